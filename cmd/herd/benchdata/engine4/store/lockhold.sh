#!/bin/bash
# lockhold.sh: herd-after (store batches of 64: up to 64 shard locks held together) against
# herd-after5 (batches of 16), alternating: paced 10,000/s reply p99 and CPU per IAMAT (REPS pairs),
# then saturated (2 pairs). Run from BENCH_DIR under flock /work/notes/bench.lock.
cd "${BENCH_DIR:-.}"
E2=$(cd "$(dirname "$0")"/../../engine2 && pwd)
export BENCH=./herd-before
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $E2/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load:|throughput|latency|  cpu  '; }
echo "lockhold start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq ${REPS:-3}); do for b in ./herd-after ./herd-after5; do
  run H10k$i $b -n 300000 -d 30s --rate 10000 --verify none
done; done
for i in 1 2; do for b in ./herd-after ./herd-after5; do
  run Hsat$i $b -d 20s --verify none
done; done
echo "lockhold end $(date +%T) load $(cat /proc/loadavg)"
