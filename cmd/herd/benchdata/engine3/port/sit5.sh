#!/bin/bash
# sitting 5: the final branch against main: five-node herd at 20k/s (3 pairs) and 10k/s (2 pairs),
# one-node herd at 10k and 20k/s, saturated with --verify all.
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |cpu per|herd cpu|verify|missing|OK|FAILED'
echo "sitting 5 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do
  for b in before after; do
    echo "=== herd5 20k $b #$i"; $D/run.sh ./herd-$b s5-h5-20k-$b-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for i in 1 2; do
  for b in before after; do
    echo "=== herd5 10k $b #$i"; $D/run.sh ./herd-$b s5-h5-10k-$b-$i -n 200000 -d 20s --rate 10000 --verify none | grep -E "$F"
  done
done
for r in 10000 20000; do
  for b in before after; do
    echo "=== herd1 $r $b"; HERD=herd1.yaml $D/run.sh ./herd-$b s5-h1-$r-$b -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
  done
done
for b in before after; do
  echo "=== herd5 sat verify $b"; $D/run.sh ./herd-$b s5-h5-satv-$b -d 15s --verify all | grep -E "$F"
done
echo "sitting 5 end $(date +%T) load $(cat /proc/loadavg)"
