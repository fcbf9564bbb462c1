#!/bin/bash
# mem.sh BIN: one node (solo.yaml), filled with 1M, then 1M more, then 5M more distinct clients;
# heap after a forced GC and VmRSS per record after each step.
# Run from a scratch directory (up.log is written there); BIN as an absolute or ./ path.
BIN=$1
Y="$(cd "$(dirname "$0")" && pwd)/solo.yaml"
$BIN up -c "$Y" --pprof 127.0.0.1:23080 > up.log 2>&1 &
PID=$!
for i in $(seq 100); do grep -q 'is up' up.log && break; sleep 0.1; done
step() {
  $BIN bench -c "$Y" --prefix $1 --clients $2 -n $2 -d 300s --verify none --no-metrics | grep -E '^throughput'
  heap=$(curl -s '127.0.0.1:23080/debug/pprof/heap?debug=1&gc=1' | awk '/^# HeapAlloc/{print $4}')
  rss=$(awk '/VmRSS/{print $2*1024}' /proc/$PID/status)
  recs=$(curl -s 127.0.0.1:23061/metrics | awk '$1=="herd_records"{printf "%d", $2}')
  echo "records $recs heap $heap B ($(echo "$heap/$recs" | bc) B/rec) rss $rss B ($(echo "$rss/$recs" | bc) B/rec)"
}
step a 1000000; step b 1000000; step c 5000000
kill $PID; wait $PID
