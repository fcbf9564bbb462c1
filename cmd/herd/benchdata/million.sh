#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30, 2026-12-01); run from a directory holding herd.yaml and the binaries.
# million.sh BIN: a fresh herd; fill 1M clients; 20,000/s paced over them; saturated over them.
# PROF=TAG: also a 15 s CPU profile of the herd during the saturated run, saved as TAG.sat.pprof
# (the herd runs with --pprof 127.0.0.1:26799). SKIP_PACED=1 leaves out the paced and probe runs.
BIN=$1
cd "${BENCH_DIR:-.}"   # where herd.yaml (ports moved, see BENCHMARKS.md) is
UP=()
[ -n "$PROF" ] && UP=(--pprof 127.0.0.1:26799)
$BIN up -c herd.yaml "${UP[@]}" > up-m.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' up-m.log && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
echo "== fill (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -n 1000000 -d 120s --verify sample --verify-sample 20000 | grep -E 'throughput|latency|cpu  |rss|verify|missing|e\.g\.'
echo "RSS after fill: $(awk '/VmRSS/{print $2}' /proc/$PID/status) kB"
if [ -z "$SKIP_PACED" ]; then
echo "== paced 20000/s over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -d 30s --rate 20000 --verify none | grep -E 'throughput|latency|cpu  |rss|flood|sync'
echo "== probe via nats at 20000/s over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 --mode probe --probes 1500 --probe-via nats --rate 20000 | grep -E 'latency|convergence|cpu  |rss'
fi
echo "== saturated over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
CP=
if [ -n "$PROF" ]; then (sleep 3; curl -s -o "$PROF.sat.pprof" "http://127.0.0.1:26799/debug/pprof/profile?seconds=15") & CP=$!; fi
c0=$(cpu)
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -d 20s --verify sample --verify-sample 20000 > million-sat.out 2>&1
c1=$(cpu)
grep -E 'throughput|latency|cpu  |rss|verify|flood|sync|missing|e\.g\.' million-sat.out
[ -n "$CP" ] && wait $CP
echo "herd CPU over the saturated run and its verify: $((c1-c0)) ticks; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RSS at end: $(awk '/VmRSS/{print $2}' /proc/$PID/status) kB"
kill $PID; wait $PID
