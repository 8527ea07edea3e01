package main

import (
	"fmt"
	"runtime"

	"cairn/node"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry makes the one Prometheus registry of a `cairn agent`
// process, served at GET /metrics: the Go and process collectors,
// cairn_build_info, and raft's own go-metrics, bridged in and installed as
// the process-wide go-metrics sink. The node, gossip and HTTP server add
// their collectors to it as they are built. Library packages never touch
// Prometheus' default registry, so tests make registries of their own.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	bridge := node.NewGoMetricsBridge()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cairn_build_info",
		Help:        "Always 1; its labels name the version of Cairn and of Go it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		bridge,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	if err := bridge.Install(); err != nil {
		return nil, fmt.Errorf("install the go-metrics bridge: %w", err)
	}
	return reg, nil
}

// memoryLimitsInfo is cairn_workload_memory_limits_info: always 1, its
// label names how this node enforces the memory_limit of process
// instances (cgroup-v2, cgroup-v1 or rlimit; see the supervisor's log line
// at start).
func memoryLimitsInfo(mechanism string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cairn_workload_memory_limits_info",
		Help:        "Always 1; its label names how this node enforces process instances' memory_limit: cgroup-v2, cgroup-v1 or rlimit.",
		ConstLabels: prometheus.Labels{"mechanism": mechanism},
	})
	g.Set(1)
	return g
}
