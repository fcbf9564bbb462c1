#!/bin/bash
# sitting 2: 100,000 clients: a 20 s profile at a paced 10,000/s (engine2/prof.sh) and a saturated
# run with a profile (satprof.sh), for each binary in BINS, alternating.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")" && pwd)
echo "sitting 2 start $(date +%T) load $(cat /proc/loadavg)"
for b in ${BINS:-herd-before herd-gc herd-recent}; do
  echo "##### $b paced 10000/s"
  BENCH_DIR=. $D/../../engine2/prof.sh ./$b $b-p10k 10000
  echo "##### $b saturated"
  BENCH_DIR=. $D/satprof.sh ./$b $b-s100k
done
echo "sitting 2 end $(date +%T) load $(cat /proc/loadavg)"
