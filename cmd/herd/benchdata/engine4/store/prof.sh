#!/bin/bash
# prof.sh: CPU profiles (pprof, 15-20 s) of herd-before and herd-after at paced 10,000/s and
# saturated, for the share of store.put. Run from BENCH_DIR under flock /work/notes/bench.lock.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")"/../.. && pwd)
export BENCH=./herd-before
echo "prof start $(date +%T) load $(cat /proc/loadavg)"
for b in ${BINS:-herd-before herd-after}; do
  echo "##### $b"
  BENCH_DIR=. $D/engine2/prof.sh ./$b p10k-$b 10000
  BENCH_DIR=. $D/engine3/store/satprof.sh ./$b psat-$b
done
echo "prof end $(date +%T) load $(cat /proc/loadavg)"
