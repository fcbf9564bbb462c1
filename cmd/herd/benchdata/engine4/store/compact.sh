#!/bin/bash
# compact.sh: saturated runs with a 15 s profile (engine3/store/satprof.sh) of herd-after and
# herd-after4 (compaction loads a table's lines before copying them), alternating, twice: herd CPU per
# IAMAT and compaction's share. Run from BENCH_DIR under flock /work/notes/bench.lock.
cd "${BENCH_DIR:-.}"
D=$(cd "$(dirname "$0")"/../.. && pwd)
export BENCH=./herd-before
echo "compact start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do for b in ${BINS:-herd-after herd-after4}; do
  echo "=== c$i $b"
  BENCH_DIR=. $D/engine3/store/satprof.sh ./$b c$i-$b
done; done
echo "compact end $(date +%T) load $(cat /proc/loadavg)"
