#!/bin/bash
# merged sitting 1: main before round 3 (herd-before), merged round 3 (herd-after) and the same with an
# 8K-entry duplicate filter (herd-8k), paced 10,000/s and 20,000/s, alternating, one fresh herd per run.
# Run from BENCH_DIR (herd.yaml with ports moved, BENCHMARKS.md) under flock /work/notes/bench.lock.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=./herd-after
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|cpu  |cpu per|convergence'; }
echo "sitting 1 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  for b in ./herd-before ./herd-after ./herd-8k; do run A10k$i $b -n 250000 -d 25s --rate 10000 --verify none; done
  for b in ./herd-before ./herd-after ./herd-8k; do run B20k$i $b -n 500000 -d 25s --rate 20000 --verify none; done
done
echo "sitting 1 end $(date +%T) load $(cat /proc/loadavg)"
