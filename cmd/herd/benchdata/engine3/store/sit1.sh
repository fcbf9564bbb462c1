#!/bin/bash
# sitting 1: a million clients (million.sh, with a CPU profile of the saturated run) for
# main, the store change, and the store change + GC tuner floor 25.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")" && pwd)
echo "sitting 1 start $(date +%T) load $(cat /proc/loadavg)"
for b in ${BINS:-herd-before herd-store herd-gc}; do
  echo "##### $b"
  BENCH_DIR=. PROF=$b-m1 $D/../../million.sh ./$b
done
echo "sitting 1 end $(date +%T) load $(cat /proc/loadavg)"
