#!/bin/bash
# sitting 7: main against storejit (main + the store compaction jitter experiment, not on this
# branch) at 20k/s, three pairs: does desynchronising the shards' compactions move the reply tail?
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |cpu per|herd cpu'
echo "sitting 7 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do
  for b in before storejit; do
    echo "=== herd5 20k $b #$i"; $D/run.sh ./herd-$b s7-h5-20k-$b-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
echo "sitting 7 end $(date +%T) load $(cat /proc/loadavg)"
