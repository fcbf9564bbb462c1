#!/bin/bash
# switches.sh BIN TAG ARGS...: the herd process's kernel context switches (voluntary and not, summed over
# its threads) per IAMAT over one `herd bench` run. Run from BENCH_DIR under flock /work/notes/bench.lock.
BIN=$1; TAG=$2; shift 2
cd "${BENCH_DIR:-.}"
$BIN up -c herd.yaml > $TAG.up.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' $TAG.up.log && break; sleep 0.1; done
sleep 0.5
cs() { cat /proc/$PID/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s}'; }
a=$(cs)
${BENCH:-$BIN} bench -c herd.yaml "$@" > $TAG.bench.out 2>&1
b=$(cs)
n=$(awk '/^requests/{print $2}' $TAG.bench.out)
grep -E 'throughput|latency|cpu  ' $TAG.bench.out
echo "context switches $((b-a)), per IAMAT $(echo "scale=2; ($b-$a)/$n" | bc) (threads alive at the end only)"
kill $PID; wait $PID
