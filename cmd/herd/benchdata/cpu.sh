#!/bin/bash
# cpu.sh BIN ARGS... : fresh `BIN up -c herd.yaml $UPFLAGS`, one `BIN bench` run, herd CPU over the run.
BIN=$1; shift
cd "${BENCH_DIR:-.}"   # where herd.yaml (ports moved, see BENCHMARKS.md) is
if ss -ltn | grep -q ":22301 "; then echo "port 22301 busy: a herd is still running"; exit 3; fi
$BIN up -c herd.yaml $UPFLAGS > up.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' up.log && break; sleep 0.1; done
sleep 0.5
read -r a b <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
t0=$(date +%s.%N)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
$BIN bench -c herd.yaml "$@" > bench.out 2>&1
rc=$?
t1=$(date +%s.%N)
read -r c d <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
rss=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
cat bench.out
n=$(awk '/^requests/{print $2}' bench.out)
echo "herd cpu $(( (c+d-a-b) )) ticks over $(echo "$t1-$t0"|bc) s; rss ${rss} kB"
if [ -n "$n" ] && [ "$n" -gt 0 ]; then echo "cpu per request: $(echo "scale=2; ($c+$d-$a-$b)*10000/$n" | bc) us"; fi
if [ -n "$KEEP" ]; then echo $PID > herd.pid; else kill $PID; wait $PID; fi
exit $rc
