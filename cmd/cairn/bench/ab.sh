#!/usr/bin/env bash
# A/B write-path benchmark: `make bench-ab BASE=<rev>` (see the Makefile).
# Starts a fresh 3-node loopback zone with each binary in turn, ROUNDS
# times alternating (A B A B ...), runs the same `cairn bench` cases on
# each (the load generator is always the newer binary's), and prints one
# table per binary plus the ratio B/A of each case's median over rounds.
#
#   ab.sh BIN_A BIN_B OUTDIR
#
# The table ends with the CPU the zone's agents spent per request (µs).
# Env: D (seconds a case, default 10s), ROUNDS (default 2), CASES (a
# subset of the case names below, space-separated; also mixed-leader-C,
# mixed-follower-C, mixed-consistent-follower-C: 20% PUTs, 80% GETs), EXTRA_A / EXTRA_B
# (agent flags for one side only). Ports 2N180-2N182 (N = 1..3); the zone
# is stopped after each case set, also on failure or Ctrl-C.
set -u
A=$1 B=$2 OUT=$3
D=${D:-10s} ROUNDS=${ROUNDS:-2}
LOADGEN=$B
mkdir -p "$OUT" || exit 1
pids=()
stop_zone() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	pids=()
}
trap stop_zone EXIT
trap 'exit 130' INT TERM

start_zone() { # bin dir extra-flags...
	local bin=$1 dir=$2; shift 2
	rm -rf "$dir" && mkdir -p "$dir"
	# Listeners a newer binary has and an older lacks stay off.
	local off=()
	"$bin" agent -h 2>&1 | grep -q -- -apcera-addr && off+=(-apcera-addr "")
	for i in 1 2 3; do
		mkdir -p "$dir/node$i"
		"$bin" agent -node-id node$i -data-dir "$dir/node$i" -http-addr 127.0.0.1:2${i}180 \
			-raft-addr 127.0.0.1:2${i}181 -gossip-addr 127.0.0.1:2${i}182 -maxscale-addr "" \
			-join 127.0.0.1:21182,127.0.0.1:22182,127.0.0.1:23182 -bootstrap-expect 3 "${off[@]}" "$@" \
			>"$dir/node$i/agent.out" 2>"$dir/node$i/agent.log" &
		pids+=($!)
	done
	leader=
	for _ in $(seq 300); do
		leader=$(curl -sf --max-time 2 http://127.0.0.1:21180/cairn/v1/status | sed -n 's/.*"leader_http":"\([^"]*\)".*/\1/p')
		ready=0
		for i in 1 2 3; do curl -sf -o /dev/null --max-time 2 http://127.0.0.1:2${i}180/ready && ready=$((ready + 1)); done
		[ -n "$leader" ] && [ $ready = 3 ] && break
		sleep 0.1
	done
	[ -n "$leader" ] || { echo "ab: no leader in $dir" >&2; return 1; }
	follower=
	for i in 1 2 3; do [ "http://127.0.0.1:2${i}180" != "$leader" ] && follower=http://127.0.0.1:2${i}180 && break; done
}

# zone_cpu prints the CPU time the zone's agents have used so far, in clock
# ticks (utime + stime of /proc/<pid>/stat; the command field is one word).
zone_cpu() {
	local p t=0
	for p in "${pids[@]}"; do
		set -- $(cat "/proc/$p/stat" 2>/dev/null)
		[ $# -ge 15 ] && t=$((t + ${14} + ${15}))
	done
	echo "$t"
}

CASES=${CASES:-"put-leader-1 put-leader-16 put-leader-64 put-follower-1 put-follower-16 put-follower-64 get-leader-64 get-consistent-follower-64"}
for r in $(seq "$ROUNDS"); do
	for side in A B; do
		bin=$A extra=${EXTRA_A:-}
		[ $side = B ] && bin=$B extra=${EXTRA_B:-}
		echo "== round $r, $side: $bin $extra" >&2
		# shellcheck disable=SC2086
		start_zone "$bin" "$OUT/zone" $extra || exit 1
		for c in $CASES; do
			set -- ${c//-/ }
			op=$1 addr=$leader xtra=() conc=$3
			[ "$2" = follower ] && addr=$follower
			if [ "$2" = consistent ]; then xtra=(-consistency consistent); conc=$4; [ "$3" = follower ] && addr=$follower; fi
			[ "$op" = mixed ] && xtra+=(-ratio put=20,get=80)
			cpu0=$(zone_cpu)
			if "$LOADGEN" bench -json -label "$c" -d "$D" -size 1024 -keys 1000 -kind bench -addr "$addr" -op "$op" -c "$conc" "${xtra[@]}" >>"$OUT/$side.jsonl" 2>>"$OUT/bench.err"; then
				echo "$c $(($(zone_cpu) - cpu0))" >>"$OUT/$side.cpu" # one line a JSON line
			else
				echo "ab: $c failed" >&2
			fi
		done
		stop_zone
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
    cpu = {}
    try:
        for line in open(p.replace(".jsonl", ".cpu")):
            label, ticks = line.split()
            cpu.setdefault(label, []).append(int(ticks))
    except FileNotFoundError:
        pass
    return d, cpu
tck = int(sys.argv[3])
(a, ca), (b, cb) = load(sys.argv[1]), load(sys.argv[2])
def seconds(d):  # a Go duration as the bench prints it: "1s", "500ms"
    return float(d[:-2]) / 1e3 if d.endswith("ms") else float(d[:-1]) if d.endswith("s") else 0.0
def cpu_us(runs, cpus):
    # Round by round: the CPU a case's run took over the requests it made,
    # its warm-up's (not in "requests") counted at the run's rate.
    per = [t / tck * 1e6 / (r["requests"] + r["req_per_s"] * seconds(r.get("warmup", "0s")))
           for r, t in zip(runs, cpus) if r["requests"]]
    return st.median(per) if per else float("nan")
print(f"{'case':32} {'A req/s':>9} {'B req/s':>9} {'B/A':>6} {'A p99':>8} {'B p99':>8} {'A cpu µs':>9} {'B cpu µs':>9}")
for k in a:
    if k not in b: continue
    ra = st.median(x["req_per_s"] for x in a[k]); rb = st.median(x["req_per_s"] for x in b[k])
    pa = st.median(x["latency_ms"]["p99"] for x in a[k]); pb = st.median(x["latency_ms"]["p99"] for x in b[k])
    ua, ub = cpu_us(a[k], ca.get(k, [])), cpu_us(b[k], cb.get(k, []))
    print(f"{k:32} {ra:9.0f} {rb:9.0f} {rb/ra:6.2f} {pa:8.1f} {pb:8.1f} {ua:9.1f} {ub:9.1f}")
EOF
