#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30); run from a directory holding herd.yaml and the binaries.
# million.sh BIN: a fresh herd; fill 1M clients; 20,000/s paced over them; saturated over them.
BIN=$1
cd "${BENCH_DIR:-.}"   # where herd.yaml (ports moved, see BENCHMARKS.md) is
$BIN up -c herd.yaml > up-m.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' up-m.log && break; sleep 0.1; done
echo "== fill (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -n 1000000 -d 120s --verify sample --verify-sample 20000 | grep -E 'throughput|latency|cpu  |rss|verify|missing|e\.g\.'
echo "RSS after fill: $(awk '/VmRSS/{print $2}' /proc/$PID/status) kB"
echo "== paced 20000/s over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -d 30s --rate 20000 --verify none | grep -E 'throughput|latency|cpu  |rss|flood|sync'
echo "== probe via nats at 20000/s over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 --mode probe --probes 1500 --probe-via nats --rate 20000 | grep -E 'latency|convergence|cpu  |rss'
echo "== saturated over the 1M clients (load $(cut -d' ' -f1-3 /proc/loadavg), $(date +%T))"
$BIN bench -c herd.yaml --prefix m1- --clients 1000000 -d 20s --verify sample --verify-sample 20000 | grep -E 'throughput|latency|cpu  |rss|verify|flood|missing|e\.g\.'
echo "RSS at end: $(awk '/VmRSS/{print $2}' /proc/$PID/status) kB"
kill $PID; wait $PID
