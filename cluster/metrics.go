package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// memberStatuses are the values of cairn_gossip_members' status label;
// every zone gossip knows reports all of them, zeros included, so that an
// alert on "dead > 0" has a series to compare before anything dies.
var memberStatuses = []string{StatusAlive, StatusSuspect, StatusDead, StatusLeft}

var (
	descMembers = prometheus.NewDesc("cairn_gossip_members",
		"Nodes of the domain this node's gossip knows, by zone and status.", []string{"zone", "status"}, nil)
	descHealthScore = prometheus.NewDesc("cairn_gossip_health_score",
		"memberlist's awareness of this node's own health: 0 is healthy, higher means it is slow to answer probes.", nil, nil)
)

// Collector returns gossip membership as a prometheus.Collector, read at
// scrape time, for the caller's registry.
func (c *Cluster) Collector() prometheus.Collector { return membershipCollector{c} }

type membershipCollector struct{ c *Cluster }

// Describe implements prometheus.Collector.
func (mc membershipCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMembers
	ch <- descHealthScore
}

// Collect implements prometheus.Collector. Zones are operator-made and
// few, and statuses a fixed set, so the labels are bounded.
func (mc membershipCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]map[string]int{}
	for _, m := range mc.c.Members() {
		if counts[m.Zone] == nil {
			counts[m.Zone] = map[string]int{}
		}
		counts[m.Zone][m.Status]++
	}
	for zone, byStatus := range counts {
		for _, st := range memberStatuses {
			// A zone name gossip delivered that Prometheus cannot take is
			// left out rather than panicking the scrape.
			if m, err := prometheus.NewConstMetric(descMembers, prometheus.GaugeValue, float64(byStatus[st]), zone, st); err == nil {
				ch <- m
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descHealthScore, prometheus.GaugeValue, float64(mc.c.ml.GetHealthScore()))
}
