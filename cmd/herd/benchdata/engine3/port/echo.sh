#!/bin/bash
# echo.sh BENCHBIN TAG ARGS... : the TCP echo floor (cmd/herd/benchdata/echofloor, built as
# BENCH_DIR/echofloor) driven by `herd bench` like the herd, its CPU from /proc.
BIN=$1; TAG=$2; shift 2
cd "${BENCH_DIR:-.}"
./echofloor -addr 127.0.0.1:22399 > $TAG.echo.log 2>&1 &
PID=$!
sleep 0.5
read -r a b <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
$BIN bench --addr 127.0.0.1:22399 --no-metrics --verify none "$@" > $TAG.bench.out 2>&1
read -r c d <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
cat $TAG.bench.out
n=$(awk '/^requests/{print $2}' $TAG.bench.out)
echo "echo cpu $(( (c+d-a-b) )) ticks (user $((c-a)) sys $((d-b))); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu per request: $(echo "scale=2; ($c+$d-$a-$b)*10000/$n" | bc) us"
kill $PID; wait $PID 2>/dev/null
