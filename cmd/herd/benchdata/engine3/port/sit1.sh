#!/bin/bash
# sitting 1 (main build only): where the CPU goes (echo floor, one-node herd, five-node herd at
# 10k and 20k/s) and GOMAXPROCS=1 against 2 (paced and saturated); then a 20k/s trace.
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
F='load|throughput|latency|  cpu |flood  |sync|cpu per|herd cpu'
B=${B:-./herd-before}
echo "sitting 1 start $(date +%T) load $(cat /proc/loadavg)"
for r in 10000 20000; do
  echo "=== echo $r";         $D/echo.sh $B s1-echo-$r -n $((r*20)) -d 20s --rate $r | grep -E "$F"
  echo "=== herd1 $r";        HERD=herd1.yaml $D/run.sh $B s1-h1-$r -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
  echo "=== herd5 $r";        $D/run.sh $B s1-h5-$r -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
  echo "=== herd5 P1 $r";     UPENV=GOMAXPROCS=1 $D/run.sh $B s1-h5p1-$r -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
  echo "=== herd1 P1 $r";     UPENV=GOMAXPROCS=1 HERD=herd1.yaml $D/run.sh $B s1-h1p1-$r -n $((r*20)) -d 20s --rate $r --verify none | grep -E "$F"
done
echo "=== herd5 sat";    $D/run.sh $B s1-h5-sat -d 15s --verify none | grep -E "$F"
echo "=== herd5 P1 sat"; UPENV=GOMAXPROCS=1 $D/run.sh $B s1-h5p1-sat -d 15s --verify none | grep -E "$F"
echo "=== trace herd5 20k"; $D/trace.sh $B s1-tr5-20k 20000
echo "=== trace herd1 10k"; $D/trace.sh $B s1-tr1-10k 10000 herd1.yaml
echo "sitting 1 end $(date +%T) load $(cat /proc/loadavg)"
