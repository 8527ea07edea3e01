#!/usr/bin/env bash
# A/B write-path benchmark: `make bench-ab BASE=<rev>` (see the Makefile).
# Each round runs the same `cairn bench` cases on both, case by case, each
# case on a fresh 3-node loopback zone of each binary in turn (A on ports
# 2N180-2N182, B on 3N180-3N182, N = 1..3), the two sides of a case back
# to back (A first in odd rounds, B first in even ones), so that the
# machine's drift falls on both sides of each pair alike. One zone runs at
# a time, as issue #22 measured: an idle zone costs the host 6-8% of its
# two cores (its leader's empty appends every -raft-commit-timeout), and a
# zone that served the earlier cases would carry their log. The load
# generator is always the newer binary's. Prints one table per binary
# plus, per case, the ratio B/A of the medians over rounds and the median
# of the rounds' own ratios.
#
#   ab.sh BIN_A BIN_B OUTDIR
#
# The table ends with the CPU the zone's agents spent per request (µs).
# Env: D (seconds a case, default 10s), ROUNDS (default 2), CASES (a
# subset of the case names below, space-separated; also mixed-leader-C,
# mixed-follower-C, mixed-consistent-follower-C: 20% PUTs, 80% GETs), EXTRA_A / EXTRA_B
# (agent flags for one side only), LOADGEN (the binary whose `cairn bench`
# sends the load; default BIN_B). A zone is stopped after its case, also
# on failure or Ctrl-C.
set -u
A=$1 B=$2 OUT=$3
D=${D:-10s} ROUNDS=${ROUNDS:-2}
LOADGEN=${LOADGEN:-$B}
mkdir -p "$OUT" || exit 1
pids_A=() pids_B=()
stop_zones() {
	for p in "${pids_A[@]}" "${pids_B[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${pids_A[@]}" "${pids_B[@]}"; do wait "$p" 2>/dev/null; done
	pids_A=() pids_B=()
}
trap stop_zones EXIT
trap 'exit 130' INT TERM

start_zone() { # side bin dir extra-flags...: sets leader_<side> and follower_<side>
	local side=$1 bin=$2 dir=$3 port=2; shift 3
	[ "$side" = B ] && port=3
	local -n zpids=pids_$side
	rm -rf "$dir" && mkdir -p "$dir"
	# Listeners a newer binary has and an older lacks stay off.
	local off=()
	"$bin" agent -h 2>&1 | grep -q -- -apcera-addr && off+=(-apcera-addr "")
	local i
	for i in 1 2 3; do
		mkdir -p "$dir/node$i"
		"$bin" agent -node-id node$i -data-dir "$dir/node$i" -http-addr 127.0.0.1:$port${i}180 \
			-raft-addr 127.0.0.1:$port${i}181 -gossip-addr 127.0.0.1:$port${i}182 -maxscale-addr "" \
			-join 127.0.0.1:${port}1182,127.0.0.1:${port}2182,127.0.0.1:${port}3182 -bootstrap-expect 3 "${off[@]}" "$@" \
			>"$dir/node$i/agent.out" 2>"$dir/node$i/agent.log" &
		zpids+=($!)
	done
	local leader= follower= ready
	for _ in $(seq 300); do
		leader=$(curl -sf --max-time 2 http://127.0.0.1:${port}1180/cairn/v1/status | sed -n 's/.*"leader_http":"\([^"]*\)".*/\1/p')
		ready=0
		for i in 1 2 3; do curl -sf -o /dev/null --max-time 2 http://127.0.0.1:$port${i}180/ready && ready=$((ready + 1)); done
		[ -n "$leader" ] && [ $ready = 3 ] && break
		sleep 0.1
	done
	[ -n "$leader" ] || { echo "ab: no leader in $dir" >&2; return 1; }
	for i in 1 2 3; do [ "http://127.0.0.1:$port${i}180" != "$leader" ] && follower=http://127.0.0.1:$port${i}180 && break; done
	printf -v "leader_$side" %s "$leader"
	printf -v "follower_$side" %s "$follower"
}

# zone_cpu prints the CPU time side's agents have used so far, in clock
# ticks (utime + stime of /proc/<pid>/stat; the command field is one word).
zone_cpu() {
	local -n zpids=pids_$1
	local p t=0
	for p in "${zpids[@]}"; do
		set -- $(cat "/proc/$p/stat" 2>/dev/null)
		[ $# -ge 15 ] && t=$((t + ${14} + ${15}))
	done
	echo "$t"
}

# run_case side case round: one run of case on side's zone, its JSON line
# and its CPU line (case, ticks, round) appended to OUT/<side>.jsonl and
# .cpu, only when the run produced its JSON line.
run_case() {
	local side=$1 c=$2 round=$3 lv=leader_$1 fv=follower_$1
	set -- ${c//-/ }
	local op=$1 addr=${!lv} xtra=() conc=$3
	[ "$2" = follower ] && addr=${!fv}
	if [ "$2" = consistent ]; then xtra=(-consistency consistent); conc=$4; [ "$3" = follower ] && addr=${!fv}; fi
	[ "$op" = mixed ] && xtra+=(-ratio put=20,get=80)
	local cpu0
	cpu0=$(zone_cpu "$side")
	if "$LOADGEN" bench -json -label "$c" -d "$D" -size 1024 -keys 1000 -kind bench -addr "$addr" -op "$op" -c "$conc" "${xtra[@]}" >>"$OUT/$side.jsonl" 2>>"$OUT/bench.err"; then
		echo "$c $(($(zone_cpu "$side") - cpu0)) $round" >>"$OUT/$side.cpu" # one line a JSON line
	else
		echo "ab: $side $c failed" >&2
	fi
}

CASES=${CASES:-"put-leader-1 put-leader-16 put-leader-64 put-follower-1 put-follower-16 put-follower-64 get-leader-64 get-consistent-follower-64"}
for r in $(seq "$ROUNDS"); do
	echo "== round $r: A $A ${EXTRA_A:-}, B $B ${EXTRA_B:-}" >&2
	order="A B"
	[ $((r % 2)) = 0 ] && order="B A"
	for c in $CASES; do
		for side in $order; do
			bin=$A extra=${EXTRA_A:-}
			[ "$side" = B ] && bin=$B extra=${EXTRA_B:-}
			# shellcheck disable=SC2086
			start_zone "$side" "$bin" "$OUT/zone-$side" $extra || exit 1
			run_case "$side" "$c" "$r"
			stop_zones
		done
	done
done
echo "A: $A"; "$LOADGEN" bench -table "$OUT/A.jsonl"
echo "B: $B"; "$LOADGEN" bench -table "$OUT/B.jsonl"
# Ratio of medians over rounds, per case: requests per second and p99.
# CPU is the zone's (three agents', not the load generator's) per request,
# in µs: less noisy than the rates when the machine is the bottleneck.
python3 - "$OUT/A.jsonl" "$OUT/B.jsonl" "$(getconf CLK_TCK)" <<'EOF'
import json, sys, statistics as st
def load(p):
    d = {}
    for line in open(p):
        j = json.loads(line)
        d.setdefault(j["label"], []).append(j)
    cpu, rounds = {}, {}
    try:
        for line in open(p.replace(".jsonl", ".cpu")):
            label, ticks, rnd = line.split()
            cpu.setdefault(label, []).append(int(ticks))
            rounds.setdefault(label, []).append(int(rnd))
    except FileNotFoundError:
        pass
    return d, cpu, rounds
tck = int(sys.argv[3])
(a, ca, na), (b, cb, nb) = load(sys.argv[1]), load(sys.argv[2])
def seconds(d):  # a Go duration as the bench prints it: "1s", "500ms"
    return float(d[:-2]) / 1e3 if d.endswith("ms") else float(d[:-1]) if d.endswith("s") else 0.0
def cpu_us(runs, cpus):
    # Round by round: the CPU a case's run took over the requests it made,
    # its warm-up's (not in "requests") counted at the run's rate.
    per = [t / tck * 1e6 / (r["requests"] + r["req_per_s"] * seconds(r.get("warmup", "0s")))
           for r, t in zip(runs, cpus) if r["requests"]]
    return st.median(per) if per else float("nan")
# "pairs": the median of the rounds' own B/A, each round's two runs of a
# case having run back to back (only rounds where both sides ran it).
print(f"{'case':32} {'A req/s':>9} {'B req/s':>9} {'B/A':>6} {'pairs':>6} {'A p99':>8} {'B p99':>8} {'A cpu µs':>9} {'B cpu µs':>9}")
for k in a:
    if k not in b: continue
    ra = st.median(x["req_per_s"] for x in a[k]); rb = st.median(x["req_per_s"] for x in b[k])
    by_round = dict(zip(nb.get(k, []), b[k]))
    pairs = [by_round[n]["req_per_s"] / x["req_per_s"] for n, x in zip(na.get(k, []), a[k])
             if n in by_round and x["req_per_s"]]
    rp = st.median(pairs) if pairs else float("nan")
    pa = st.median(x["latency_ms"]["p99"] for x in a[k]); pb = st.median(x["latency_ms"]["p99"] for x in b[k])
    ua, ub = cpu_us(a[k], ca.get(k, [])), cpu_us(b[k], cb.get(k, []))
    print(f"{k:32} {ra:9.0f} {rb:9.0f} {rb/ra:6.2f} {rp:6.2f} {pa:8.1f} {pb:8.1f} {ua:9.1f} {ub:9.1f}")
EOF
