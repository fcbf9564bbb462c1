#!/bin/bash
# levers.sh BIN...: saturated 20 s runs (--verify none), the given binaries alternating, REPS rounds:
# herd CPU per IAMAT and throughput, to tell store levers apart. Run from BENCH_DIR under
# flock /work/notes/bench.lock; bench client = herd-before.
cd "${BENCH_DIR:-.}"
E2=$(cd "$(dirname "$0")"/../../engine2 && pwd)
export BENCH=./herd-before
echo "levers start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq ${REPS:-3}); do for b in "$@"; do
  echo "=== sat$i $b"
  $E2/run.sh ./$b L$i-$b -d 20s --verify none | grep -E 'load:|throughput|latency|  cpu  '
done; done
echo "levers end $(date +%T) load $(cat /proc/loadavg)"
