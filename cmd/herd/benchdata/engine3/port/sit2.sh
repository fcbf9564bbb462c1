#!/bin/bash
# sitting 2: before (main) / after (direct write) / storejit (main + store compaction jitter,
# an experiment, not on this branch) alternating at 20k and 10k/s; one-node herd before/after;
# saturated before/after; a 20k/s trace with CPU samples of main.
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |sync|cpu per|herd cpu'
echo "sitting 2 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  for b in before after storejit; do
    echo "=== herd5 20k $b #$i"; $D/run.sh ./herd-$b s2-h5-20k-$b-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for i in 1 2; do
  for b in before after; do
    echo "=== herd5 10k $b #$i"; $D/run.sh ./herd-$b s2-h5-10k-$b-$i -n 200000 -d 20s --rate 10000 --verify none | grep -E "$F"
  done
done
for r in 10000 20000; do
  for b in before after; do
    echo "=== herd1 $r $b"; HERD=herd1.yaml $D/run.sh ./herd-$b s2-h1-$r-$b -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
  done
done
for b in before after; do
  echo "=== herd5 sat $b"; $D/run.sh ./herd-$b s2-h5-sat-$b -d 15s --verify none | grep -E "$F"
done
echo "=== trace herd5 20k before"; $D/trace.sh ./herd-before s2-tr5-20k-before 20000
echo "sitting 2 end $(date +%T) load $(cat /proc/loadavg)"
