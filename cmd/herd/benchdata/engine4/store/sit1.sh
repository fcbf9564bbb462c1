#!/bin/bash
# sitting 1: herd-before (main 4a80b2b) vs herd-after (engine4-store), alternating, one fresh
# herd per run: paced 10,000/s and 20,000/s (CPU per IAMAT, reply p99), saturated --verify all.
# Run from BENCH_DIR (herd.yaml, binaries) under flock /work/notes/bench.lock; bench client = herd-before.
cd "${BENCH_DIR:-.}"
E2=$(cd "$(dirname "$0")"/../../engine2 && pwd)
export BENCH=./herd-before
B=${BEFORE:-./herd-before}; A=${AFTER:-./herd-after}; N=${REPS:-2}
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $E2/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|cpu  |rss|flood|cpu per|verify'; }
echo "sitting 1 start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq $N); do
  run A10k$i $B -n 300000 -d 30s --rate 10000 --verify none
  run A10k$i $A -n 300000 -d 30s --rate 10000 --verify none
  run B20k$i $B -n 600000 -d 30s --rate 20000 --verify none
  run B20k$i $A -n 600000 -d 30s --rate 20000 --verify none
  run Fsat$i $B -d 20s --verify all
  run Fsat$i $A -d 20s --verify all
done
echo "sitting 1 end $(date +%T) load $(cat /proc/loadavg)"
