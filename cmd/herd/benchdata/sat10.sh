#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30): N saturated verified runs of BIN.
BIN=$1; N=${2:-10}
for i in $(seq $N); do
  echo "== run $i"
  "$(dirname "$0")/cpu.sh" $BIN -d 30s --verify all | grep -E 'load|throughput|latency|cpu  |flood|sync|verify|missing|e\.g\.'
done
