#!/bin/bash
# sitting 0: profiles of main saturated at 100k and at 1M clients.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")" && pwd)
echo "sitting 0 start $(date +%T) load $(cat /proc/loadavg)"
BENCH_DIR=. $D/satprof.sh ./herd-before b100k
BENCH_DIR=. PROF=b1m SKIP_PACED=1 $D/../../million.sh ./herd-before
echo "sitting 0 end $(date +%T) load $(cat /proc/loadavg)"
