package main

// Measurements of a 3-node zone of real `cairn agent` processes on
// 127.0.0.1 (issue 3's note): failover time, forwarded versus direct write
// throughput, and whether elections happen under load, each on Cairn's
// default Raft timings and on a few candidate settings. They print tables
// with b.Logf and report metrics; none asserts a figure. Each does its
// work once per invocation whatever b.N is, so run them with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 1x ./cmd/cairn
//
// The failover benchmark kills 5 leaders per setting, the forwarding one
// writes for 5s per case, the load one for 10s per setting: about two
// minutes in all.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clusterTimings is one setting of the Raft timeouts a benchmark zone runs
// with.
type clusterTimings struct {
	name string
	args []string
}

// clusterTimingCandidates are the settings measured: Cairn's defaults
// (250ms heartbeat and election timeouts, 250ms leader lease), then other
// heartbeat timeouts, each with the lease at half the heartbeat timeout
// (hashicorp/raft requires lease ≤ heartbeat).
var clusterTimingCandidates = []clusterTimings{
	{"default-250ms", nil},
	{"500ms", raftTimingArgs(500 * time.Millisecond)},
	{"300ms", raftTimingArgs(300 * time.Millisecond)},
	{"200ms", raftTimingArgs(200 * time.Millisecond)},
}

func raftTimingArgs(d time.Duration) []string {
	return []string{
		"-raft-heartbeat-timeout", d.String(),
		"-raft-election-timeout", d.String(),
		"-raft-leader-lease-timeout", (d / 2).String(),
	}
}

// clusterBenchOnce runs each named measurement once per test binary run:
// the framework may call a benchmark function more than once.
var clusterBenchOnce struct {
	sync.Mutex
	done map[string]map[string]float64
}

func reportOnce(b *testing.B, measure func(b *testing.B) map[string]float64) {
	b.Helper()
	clusterBenchOnce.Lock()
	if clusterBenchOnce.done == nil {
		clusterBenchOnce.done = map[string]map[string]float64{}
	}
	m, ok := clusterBenchOnce.done[b.Name()]
	clusterBenchOnce.Unlock()
	if !ok {
		m = measure(b)
		clusterBenchOnce.Lock()
		clusterBenchOnce.done[b.Name()] = m
		clusterBenchOnce.Unlock()
	}
	for unit, v := range m {
		b.ReportMetric(v, unit)
	}
}

// BenchmarkClusterFailover kills the leader of a 3-node zone with SIGKILL
// five times per timing setting and measures, each time, how long from the
// kill until a write through a survivor first succeeds (the client retries
// every 10ms, alternating between the two survivors). The killed node is
// restarted on its data dir between rounds.
func BenchmarkClusterFailover(b *testing.B) {
	const kills = 5
	for _, cand := range clusterTimingCandidates {
		b.Run(cand.name, func(b *testing.B) {
			reportOnce(b, func(b *testing.B) map[string]float64 {
				nodes := startCluster(b, 3, agentOpts{noFastRaft: true, args: cand.args})
				var samples []time.Duration
				for round := range kills {
					leader := mustAgreeOnLeader(b, nodes, electionTimeout)
					for i := range 5 { // a working zone, leader and followers
						nodes[i%3].mustPut("bench.failover", fmt.Sprintf("warm-%d-%d", round, i), []byte(`{}`), http.StatusCreated)
					}
					survivors := others(nodes, leader)
					leader.mustKill()
					killed := time.Now()
					at, _ := writeUntilOK(b, survivors, "bench.failover", fmt.Sprintf("after-kill-%d", round), []byte(`{}`), failoverBound)
					samples = append(samples, at.Sub(killed))
					b.Logf("%s round %d: killed leader %s; first write through a survivor after %s",
						cand.name, round+1, leader.id(), at.Sub(killed).Round(time.Millisecond))
					back := mustStartAgent(b, leader.restartOpts())
					nodes = append(survivors, back)
					mustAgreeOnLeader(b, nodes, electionTimeout)
					for _, a := range nodes {
						waitStatus(b, a, "3 voters", membershipTimeout, func(st nodeStatus) bool { return st.Voters == 3 })
					}
				}
				slices.Sort(samples)
				var all []string
				for _, s := range samples {
					all = append(all, s.Round(time.Millisecond).String())
				}
				b.Logf("%s: failover median %s (min %s, max %s) over %d kills: %s", cand.name,
					samples[len(samples)/2].Round(time.Millisecond), samples[0].Round(time.Millisecond),
					samples[len(samples)-1].Round(time.Millisecond), len(samples), strings.Join(all, " "))
				return map[string]float64{
					"failover-median-ms": ms(samples[len(samples)/2]),
					"failover-min-ms":    ms(samples[0]),
					"failover-max-ms":    ms(samples[len(samples)-1]),
				}
			})
		})
	}
}

// BenchmarkClusterForwardedWrites compares PUTs of 1 KiB sent straight to
// the leader of a 3-node zone (default timings) with the same PUTs sent to
// a follower, which forwards them and answers only once it has applied
// them itself (read-your-writes): at 16 concurrent clients, and at 1,
// where the follower's wait for the commit index is not hidden by other
// writes. A follower learns the commit index from the leader's next
// AppendEntries, which, when no other write follows, hashicorp/raft sends
// after a random 1-2× -raft-commit-timeout; so the same runs are repeated
// with that timeout at 5ms instead of the default 50ms.
func BenchmarkClusterForwardedWrites(b *testing.B) {
	const runFor = 5 * time.Second
	for _, setting := range []clusterTimings{
		{"commit-timeout=50ms(default)", nil},
		{"commit-timeout=5ms", []string{"-raft-commit-timeout", "5ms"}},
	} {
		b.Run(setting.name, func(b *testing.B) {
			// One zone for the sub-benchmarks of a setting: started here,
			// it lives until they have all run.
			nodes := startCluster(b, 3, agentOpts{noFastRaft: true, args: setting.args})
			for _, c := range []int{16, 1} {
				for _, via := range []string{"direct", "forwarded"} {
					b.Run(fmt.Sprintf("%s/c=%d", via, c), func(b *testing.B) {
						reportOnce(b, func(b *testing.B) map[string]float64 {
							leader := mustAgreeOnLeader(b, nodes, electionTimeout)
							target := leader
							if via == "forwarded" {
								target = others(nodes, leader)[0]
							}
							client := benchClient(c)
							defer client.CloseIdleConnections()
							kind := fmt.Sprintf("bench.%s.c%d", via, c)
							var seq atomic.Int64
							lat, errs := loadForDuration(c, runFor, func(ctx context.Context) error {
								id := fmt.Sprintf("k%06d", seq.Add(1)%benchKeyspace)
								return benchPut(ctx, client, target.url, kind, id, benchBody(id))
							})
							m := latencyMetrics(lat, runFor)
							m["errors"] = float64(errs)
							b.Logf("%s: PUT 1 KiB %s to %s (%s), c=%d for %s: %.0f req/s, p50 %.2fms, p99 %.2fms, %d errors",
								setting.name, via, target.id(), map[bool]string{true: "leader", false: "follower"}[target == leader], c, runFor,
								m["req/s"], m["p50-ms"], m["p99-ms"], errs)
							return m
						})
					})
				}
			}
		})
	}
}

// BenchmarkClusterLoadElections runs 64 concurrent writers for 10s against
// a 3-node zone (spread over all three nodes, so followers forward) per
// timing setting, and counts the elections that happened meanwhile: term
// changes and leader changes seen by polling every node's status. On an
// idle LAN there should be none; a count above zero is a spurious
// election caused by load (heartbeats starved by CPU or disk).
func BenchmarkClusterLoadElections(b *testing.B) {
	const (
		writers = 64
		runFor  = 10 * time.Second
	)
	for _, cand := range clusterTimingCandidates {
		b.Run(cand.name, func(b *testing.B) {
			reportOnce(b, func(b *testing.B) map[string]float64 {
				nodes := startCluster(b, 3, agentOpts{noFastRaft: true, args: cand.args})
				leader := mustAgreeOnLeader(b, nodes, electionTimeout)
				startTerm := leader.mustStatus().Term

				// Watch every node's term and leader while the load runs.
				stopWatch := make(chan struct{})
				var watchWG sync.WaitGroup
				var mu sync.Mutex
				terms := map[uint64]bool{startTerm: true}
				leaders := []string{leader.id()}
				noLeaderSeen := 0
				watchWG.Add(1)
				go func() {
					defer watchWG.Done()
					tick := time.NewTicker(50 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stopWatch:
							return
						case <-tick.C:
						}
						for _, a := range nodes {
							st, err := a.status()
							if err != nil {
								continue
							}
							mu.Lock()
							terms[st.Term] = true
							if st.LeaderID == "" {
								noLeaderSeen++
							} else if leaders[len(leaders)-1] != st.LeaderID {
								leaders = append(leaders, st.LeaderID)
							}
							mu.Unlock()
						}
					}
				}()

				clients := make([]*http.Client, len(nodes))
				for i := range clients {
					clients[i] = benchClient(writers / len(nodes))
				}
				var seq atomic.Int64
				var failures sync.Map // first error text per status line
				lat, errs := loadForDuration(writers, runFor, func(ctx context.Context) error {
					n := seq.Add(1)
					i := int(n % int64(len(nodes)))
					id := fmt.Sprintf("k%06d", n%benchKeyspace)
					err := benchPut(ctx, clients[i], nodes[i].url, "bench.load", id, benchBody(id))
					if err != nil {
						failures.LoadOrStore(firstWords(err.Error(), 8), err.Error())
					}
					return err
				})
				close(stopWatch)
				watchWG.Wait()
				for _, c := range clients {
					c.CloseIdleConnections()
				}
				endTerm := uint64(0)
				for _, a := range nodes {
					endTerm = max(endTerm, a.mustStatus().Term)
				}
				mu.Lock()
				defer mu.Unlock()
				m := latencyMetrics(lat, runFor)
				m["errors"] = float64(errs)
				m["term-changes"] = float64(endTerm - startTerm)
				m["leader-changes"] = float64(len(leaders) - 1)
				b.Logf("%s: %d writers for %s over 3 nodes: %.0f req/s, p50 %.2fms, p99 %.2fms, %d errors; term %d → %d, leaders %v, polls with no leader: %d",
					cand.name, writers, runFor, m["req/s"], m["p50-ms"], m["p99-ms"], errs, startTerm, endTerm, leaders, noLeaderSeen)
				failures.Range(func(_, v any) bool {
					b.Logf("%s: a failed write: %s", cand.name, v)
					return true
				})
				return m
			})
		})
	}
}

// loadForDuration calls op from c goroutines for d and returns the
// latencies of the calls that succeeded and how many failed. Failures do
// not stop the run.
func loadForDuration(c int, d time.Duration, op func(ctx context.Context) error) ([]time.Duration, int) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				// Each call gets its own deadline past the run's end, so
				// the last ones finish instead of failing on the cut.
				opCtx, opCancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				err := op(opCtx)
				opCancel()
				if err != nil {
					bad++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, errs
}

// latencyMetrics are throughput and latency percentiles of successful
// calls over a run of d.
func latencyMetrics(lat []time.Duration, d time.Duration) map[string]float64 {
	slices.Sort(lat)
	return map[string]float64{
		"req/s":  float64(len(lat)) / d.Seconds(),
		"p50-ms": ms(percentile(lat, 0.50)),
		"p99-ms": ms(percentile(lat, 0.99)),
	}
}

// firstWords is the start of s, to group errors by kind.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}
