#!/bin/bash
# sitting 3: runtime settings on the herd at 20k/s (GOMAXPROCS 2/3/4, GOGC default/200/400 — env
# on `herd up` only), then more before/after pairs of the direct write (one-node herd 10k, 20k;
# five-node saturated).
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |cpu per|herd cpu'
echo "sitting 3 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  for e in GOMAXPROCS=2 GOMAXPROCS=3 GOMAXPROCS=4; do
    echo "=== herd5 20k after $e #$i"; UPENV=$e $D/run.sh ./herd-after s3-h5-20k-$e-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for i in 1 2; do
  for e in GOGC=200 GOGC=400; do
    echo "=== herd5 20k after $e #$i"; UPENV=$e $D/run.sh ./herd-after s3-h5-20k-$e-$i -n 400000 -d 20s --rate 20000 --verify none | grep -E "$F"
  done
done
for i in 1 2; do
  for r in 10000 20000; do
    for b in before after; do
      echo "=== herd1 $r $b #$i"; HERD=herd1.yaml $D/run.sh ./herd-$b s3-h1-$r-$b-$i -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
    done
  done
done
for i in 1 2; do
  for b in before after; do
    echo "=== herd5 sat $b #$i"; $D/run.sh ./herd-$b s3-h5-sat-$b-$i -d 15s --verify none | grep -E "$F"
  done
done
echo "sitting 3 end $(date +%T) load $(cat /proc/loadavg)"
