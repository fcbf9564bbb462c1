#!/bin/bash
# sitting 3: more paced 10,000/s pairs (herd-before vs herd-after alternating), then a million
# clients (million.sh, SKIP_PACED=1: fill, saturated) for each build. Run from BENCH_DIR under
# flock /work/notes/bench.lock; bench client = herd-before.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")"/../.. && pwd)
export BENCH=./herd-before
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $D/engine2/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|cpu  |cpu per'; }
echo "sitting 3 start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq ${REPS:-3}); do
  run S10k$i ./herd-before -n 300000 -d 30s --rate 10000 --verify none
  run S10k$i ./herd-after  -n 300000 -d 30s --rate 10000 --verify none
done
for b in herd-before herd-after; do
  echo "##### million $b"
  BENCH_DIR=. SKIP_PACED=1 $D/million.sh ./$b
done
echo "sitting 3 end $(date +%T) load $(cat /proc/loadavg)"
