#!/bin/bash
# run.sh BIN TAG ARGS... : fresh `env $UPENV BIN up -c $HERD $UPFLAGS` (HERD default herd.yaml: the
# five-node herd; herd1.yaml: one node, no neighbors), one `herd bench -c $HERD ARGS`, and the herd
# process's CPU from /proc over the bench. UPENV (e.g. GOMAXPROCS=1) goes to the herd only, never
# to the bench client. Logs kept as TAG.*. Run from BENCH_DIR (herd files with ports moved to
# 223xx/243xx/263xx/283xx: BENCHMARKS.md, "Engine, round 3", port) or with it set.
BIN=$1; TAG=$2; shift 2
cd "${BENCH_DIR:-.}"
HERD=${HERD:-herd.yaml}
if ss -ltn | grep -q ":22301 "; then echo "port 22301 busy"; exit 3; fi
env $UPENV $BIN up -c $HERD $UPFLAGS > $TAG.up.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' $TAG.up.log && break; sleep 0.1; done
sleep 0.5
read -r a b <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
ctx0=$(awk '/ctxt_switches/{s+=$2} END{print s}' /proc/$PID/task/*/status 2>/dev/null)
t0=$(date +%s.%N)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
${BENCH:-$BIN} bench -c $HERD "$@" > $TAG.bench.out 2>&1
rc=$?
t1=$(date +%s.%N)
read -r c d <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
ctx1=$(awk '/ctxt_switches/{s+=$2} END{print s}' /proc/$PID/task/*/status 2>/dev/null)
rss=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
cat $TAG.bench.out
n=$(awk '/^requests/{print $2}' $TAG.bench.out)
echo "herd cpu $(( (c+d-a-b) )) ticks (user $((c-a)) sys $((d-b))) over $(echo "$t1-$t0"|bc) s; ctx switches (live threads) $((ctx1-ctx0)); rss ${rss} kB; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$n" ] && [ "$n" -gt 0 ]; then echo "cpu per request: $(echo "scale=2; ($c+$d-$a-$b)*10000/$n" | bc) us"; fi
if [ -n "$KEEP" ]; then echo $PID > herd.pid; else kill $PID; wait $PID; fi
exit $rc
