#!/bin/bash
# idle.sh BEFORE AFTER [PAIRS]: idle convergence (1000 probes watched on NATS), PAIRS (default 8) fresh
# herds per build, before and after alternating (the first of each pair swapped every other pair).
# Run from BENCH_DIR (herd.yaml with ports moved, BENCHMARKS.md) under flock /work/notes/bench.lock,
# at nice -n -10 (other sessions run tests at nice 15).
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
echo "idle sitting start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq ${3:-8}); do
  if [ $((i % 2)) = 1 ]; then order="$1 $2"; else order="$2 $1"; fi
  for b in $order; do
    echo "=== idle$i $(basename $b)"
    $R $b idle$i-$(basename $b) --mode probe --probes 1000 --probe-via nats | grep -E '^load|convergence|cpu  '
  done
done
echo "idle sitting end $(date +%T) load $(cat /proc/loadavg)"
