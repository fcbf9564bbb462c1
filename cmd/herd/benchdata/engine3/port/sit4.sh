#!/bin/bash
# sitting 4: how often the read loop writes directly (herd-count: the after build logging its sends
# at Close, not committed), then before / after (direct write up to 1 KiB) / after256 (up to 256 B)
# saturated and at 20k/s, and before/after at 10k/s.
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |cpu per|herd cpu'
echo "sitting 4 start $(date +%T) load $(cat /proc/loadavg)"
echo "=== count sat";  $D/run.sh ./herd-count s4-count-sat -d 15s --verify none | grep -E "$F"; grep -h COUNT s4-count-sat.up.log
echo "=== count 20k";  $D/run.sh ./herd-count s4-count-20k -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"; grep -h COUNT s4-count-20k.up.log
for i in 1 2; do
  for b in before after after256; do
    echo "=== herd5 sat $b #$i"; $D/run.sh ./herd-$b s4-h5-sat-$b-$i -d 15s --verify none | grep -E "$F"
  done
done
for i in 1 2; do
  for b in before after after256; do
    echo "=== herd5 20k $b #$i"; $D/run.sh ./herd-$b s4-h5-20k-$b-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for b in before after; do
  echo "=== herd5 10k $b"; $D/run.sh ./herd-$b s4-h5-10k-$b -n 200000 -d 20s --rate 10000 --verify none | grep -E "$F"
done
echo "sitting 4 end $(date +%T) load $(cat /proc/loadavg)"
