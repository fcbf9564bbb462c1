#!/bin/bash
# sitting 5: main (herd-before) against this branch (herd-after) again, alternating: a million
# clients without the paced runs (fill, saturated with a profile), 100,000 clients saturated with a
# profile, paced 10,000/s with a profile.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")" && pwd)
echo "sitting 5 start $(date +%T) load $(cat /proc/loadavg)"
for b in herd-before herd-after; do
  echo "##### $b million"
  BENCH_DIR=. PROF=$b-s5m1 SKIP_PACED=1 $D/../../million.sh ./$b
  echo "##### $b saturated 100k"
  BENCH_DIR=. $D/satprof.sh ./$b $b-s5s100k
done
for b in herd-before herd-after; do
  echo "##### $b paced 10000/s"
  BENCH_DIR=. $D/../../engine2/prof.sh ./$b $b-s5p10k 10000
done
echo "sitting 5 end $(date +%T) load $(cat /proc/loadavg)"
