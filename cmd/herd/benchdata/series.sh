#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30); run from a directory holding herd.yaml and the binaries.
# series.sh: before/after pairs, alternating, one fresh herd per run.
cd "${BENCH_DIR:-.}"   # where herd.yaml (ports moved, see BENCHMARKS.md) is
run() { # label bin args...
  local label=$1 bin=$2; shift 2
  echo "=== $label $(basename $bin)"
  "$(dirname "$0")/cpu.sh" $bin "$@" | grep -E 'load|throughput|latency|convergence|timeouts|cpu  |rss|flood|sync|verify|missing|e\.g\.|cpu per'
}
for i in 1 2; do
  run A20k ./herd-before -n 600000 -d 40s --rate 20000 --verify none
  run A20k ./herd-after  -n 600000 -d 40s --rate 20000 --verify none
done
for i in 1 2; do
  run B10k ./herd-before -n 300000 -d 40s --rate 10000 --verify none
  run B10k ./herd-after  -n 300000 -d 40s --rate 10000 --verify none
done
for i in 1 2; do
  run Cnats20k ./herd-before --mode probe --probes 2000 --probe-via nats --rate 20000
  run Cnats20k ./herd-after  --mode probe --probes 2000 --probe-via nats --rate 20000
done
run Dwhatsat20k ./herd-before --mode probe --probes 2000 --rate 20000
run Dwhatsat20k ./herd-after  --mode probe --probes 2000 --rate 20000
run Eidle ./herd-before --mode probe --probes 1000 --probe-via nats
run Eidle ./herd-after  --mode probe --probes 1000 --probe-via nats
for i in 1 2; do
  run Fsat ./herd-before -d 30s --verify all
  run Fsat ./herd-after  -d 30s --verify all
done
