#!/bin/bash
# bench.sh ROUNDS DUR: alternating memory-only / everysec herds, saturated and
# paced at 20,000/s; prints herd bench's throughput, latency and herd CPU lines.
cd "$(dirname "$0")"
BIN=${BIN:-./herd-new}
run() { # mode rate
  rm -rf bdata
  local flags=""; [ "$1" != mem ] && flags="--data bdata"
  $BIN up -c herd.yaml $flags > b.out 2> b.err &
  local pid=$!
  until grep -q "is up" b.out; do sleep 0.1; done
  local rflag=""; [ "$2" != 0 ] && rflag="--rate $2"
  echo "== $1 rate=$2 $(cat /proc/loadavg | cut -d' ' -f1-3)"
  $BIN bench -c herd.yaml -d $DUR $rflag --verify none 2>&1 | grep -E "^requests|latency|p50|p99|^  cpu|gc|rss" | grep -v "^$"
  [ "$1" != mem ] && du -sb bdata | cut -f1
  kill -TERM $pid; wait $pid
  grep -E "level=(ERROR|WARN)" b.err | head -3
}
DUR=${2:-20s}
for r in $(seq 1 ${1:-3}); do
  for rate in 0 20000; do
    for mode in mem everysec; do run $mode $rate; done
  done
done
rm -rf bdata
