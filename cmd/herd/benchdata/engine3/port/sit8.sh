#!/bin/bash
# sitting 8: main against `both` (this branch + the store compaction jitter experiment, not on this
# branch) at 20k/s and 10k/s: the reply tail with both levers.
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |cpu per|herd cpu'
echo "sitting 8 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do
  for b in before both; do
    echo "=== herd5 20k $b #$i"; $D/run.sh ./herd-$b s8-h5-20k-$b-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for b in before both; do
  echo "=== herd5 10k $b"; $D/run.sh ./herd-$b s8-h5-10k-$b -n 200000 -d 20s --rate 10000 --verify none | grep -E "$F"
done
echo "sitting 8 end $(date +%T) load $(cat /proc/loadavg)"
