#!/bin/bash
# run.sh BIN TAG ARGS... : fresh `BIN up -c herd.yaml $UPFLAGS`, one bench, herd CPU over it. Logs kept as TAG.*
# Run with an absolute path (the sittings call it by "$(dirname "$0")"), from BENCH_DIR or with it set.
BIN=$1; TAG=$2; shift 2
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
# The herd file's first client port: a herd left running from an earlier run would take the bench's load.
PORT=$(grep -m1 -o 'client: 127\.0\.0\.1:[0-9]*' herd.yaml | cut -d: -f3)
if ss -ltn | grep -q ":$PORT "; then echo "port $PORT busy"; exit 3; fi
$BIN up -c herd.yaml $UPFLAGS > $TAG.up.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' $TAG.up.log && break; sleep 0.1; done
sleep 0.5
read -r a b <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
t0=$(date +%s.%N)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
${BENCH:-$BIN} bench -c herd.yaml "$@" > $TAG.bench.out 2>&1
rc=$?
t1=$(date +%s.%N)
read -r c d <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
rss=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
cat $TAG.bench.out
n=$(awk '/^requests/{print $2}' $TAG.bench.out)
echo "herd cpu $(( (c+d-a-b) )) ticks over $(echo "$t1-$t0"|bc) s; rss ${rss} kB; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$n" ] && [ "$n" -gt 0 ]; then echo "cpu per request: $(echo "scale=2; ($c+$d-$a-$b)*10000/$n" | bc) us"; fi
if [ -n "$LAT" ]; then for m in $(grep -o 'monitor: 127\.0\.0\.1:[0-9]*' herd.yaml | cut -d: -f3); do curl -s localhost:$m/metrics; done | awk '/^herd_flood_latency_seconds_bucket/ { match($0, /le="[^"]*"/); le=substr($0, RSTART+4, RLENGTH-5); c[le]+=$NF } /^herd_flood_latency_seconds_count/ {n+=$NF} END { printf "flood latency (all nodes, whole run): n=%d", n; for (l in c) if (l=="0.1024"||l=="0.8192"||l=="3.2768"||l=="6.5536") printf " <=%ss %.5f", l, c[l]/n; print "" }'; fi
if [ -n "$KEEP" ]; then echo $PID > herd.pid; else kill $PID; wait $PID; fi
exit $rc
