#!/bin/bash
# sitting 4 (final): main (herd-before) against this branch (herd-after), alternating:
# a million clients (million.sh with a profile of the saturated run), 100,000 clients saturated
# (satprof.sh) and paced at 10,000/s with a profile (engine2/prof.sh), then the store's Go
# benchmarks (gobench.sh).
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")" && pwd)
echo "sitting 4 start $(date +%T) load $(cat /proc/loadavg)"
for b in herd-before herd-after; do
  echo "##### $b million"
  BENCH_DIR=. PROF=$b-s4m1 $D/../../million.sh ./$b
done
for b in herd-before herd-after; do
  echo "##### $b saturated 100k"
  BENCH_DIR=. $D/satprof.sh ./$b $b-s4s100k
  echo "##### $b paced 10000/s"
  BENCH_DIR=. $D/../../engine2/prof.sh ./$b $b-s4p10k 10000
done
echo "##### go benchmarks"
BENCH_DIR=. TAGS="before store recent pending" $D/gobench.sh
echo "sitting 4 end $(date +%T) load $(cat /proc/loadavg)"
