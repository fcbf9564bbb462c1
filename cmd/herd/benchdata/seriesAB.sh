#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30): the 20,000/s and 10,000/s pairs again.
cd "${BENCH_DIR:-.}"
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")/cpu.sh" $bin "$@" | grep -E 'load|latency|cpu  |flood|cpu per'; }
for i in 1 2; do
  run A20k ./herd-before -n 600000 -d 40s --rate 20000 --verify none
  run A20k ./herd-after  -n 600000 -d 40s --rate 20000 --verify none
  run B10k ./herd-before -n 300000 -d 40s --rate 10000 --verify none
  run B10k ./herd-after  -n 300000 -d 40s --rate 10000 --verify none
done
