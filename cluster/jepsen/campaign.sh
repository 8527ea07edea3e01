#!/bin/sh
# campaign.sh runs a jepsen campaign: `make jepsen-campaign` calls it.
# SEEDS runs, seeds SEED_BASE+1 .. SEED_BASE+SEEDS, each of DURATION, the
# seeds split into consecutive blocks, one per node count of NODES_LIST
# (20 seeds, "3 5": seeds 1-10 on 3 nodes, 11-20 on 5). The failpoints
# binary (BINARY) and the test binary are built once; a failing run does
# not stop the campaign. Each run's output is kept in OUT/run-<seed>-<n>.log
# and its summary line appended to OUT/summary.jsonl; at the end one
# markdown table of every run is printed (and kept in OUT/table.md), and the
# exit status is 1 if any run did not pass.
set -u
: "${GO:=go}" "${BINARY:?}" "${OUT:?}" "${SEEDS:=20}" "${SEED_BASE:=0}" "${DURATION:=120s}" "${NODES_LIST:=3 5}"
: "${FAULTS:=}" "${CLIENTS:=5}" "${TLS:=0}"
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
: >"$OUT/summary.jsonl"
"$GO" test -c -tags failpoints -o "$OUT/jepsen.test" ./cluster/jepsen/ || exit 1
"$GO" build -o "$OUT/campaigntable" ./cluster/jepsen/campaigntable || exit 1
set -- $NODES_LIST
counts=$#
runs=""
i=0
while [ "$i" -lt "$SEEDS" ]; do
	seed=$((SEED_BASE + i + 1))
	# The block of seed i: the (i*counts/SEEDS)-th node count.
	shift_to=$((i * counts / SEEDS + 1))
	nodes=$(echo "$NODES_LIST" | awk -v k="$shift_to" '{print $k}')
	runs="$runs $seed:$nodes"
	log="$OUT/run-$seed-$nodes.log"
	echo "=== $(date -u +%H:%M:%S) run $((i + 1))/$SEEDS: seed $seed, $nodes nodes, $DURATION (log $log)"
	(cd cluster/jepsen && CAIRN_JEPSEN_BINARY="$BINARY" CAIRN_JEPSEN_DURATION="$DURATION" CAIRN_JEPSEN_NODES="$nodes" \
		CAIRN_JEPSEN_SEED="$seed" CAIRN_JEPSEN_FAULTS="$FAULTS" CAIRN_JEPSEN_CLIENTS="$CLIENTS" CAIRN_JEPSEN_TLS="$TLS" \
		CAIRN_JEPSEN_SUMMARY="$OUT/summary.jsonl" \
		"$OUT/jepsen.test" -test.count=1 -test.v -test.timeout 0 -test.run '^Test_Jepsen_Campaign$') >"$log" 2>&1
	rc=$?
	grep -E 'JEPSEN-SUMMARY|ANOMALY|history and logs kept' "$log" | sed 's/^ *//' | cut -c1-400
	echo "=== $(date -u +%H:%M:%S) seed $seed, $nodes nodes: exit $rc"
	i=$((i + 1))
done
echo
"$OUT/campaigntable" "$OUT/summary.jsonl" $runs >"$OUT/table.md"
rc=$?
cat "$OUT/table.md"
exit $rc
