#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30): one pair of every scenario, 22:29-22:36.
cd "${BENCH_DIR:-.}"
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")/cpu.sh" $bin "$@" | grep -E 'load|throughput|latency|convergence|cpu  |rss|flood|sync|verify|missing|e\.g\.|cpu per'; }
run A20k ./herd-before -n 400000 -d 40s --rate 20000 --verify none
run A20k ./herd-after  -n 400000 -d 40s --rate 20000 --verify none
run B10k ./herd-before -n 200000 -d 40s --rate 10000 --verify none
run B10k ./herd-after  -n 200000 -d 40s --rate 10000 --verify none
run Cnats20k ./herd-before --mode probe --probes 2000 --probe-via nats --rate 20000
run Cnats20k ./herd-after  --mode probe --probes 2000 --probe-via nats --rate 20000
run Dwhatsat20k ./herd-before --mode probe --probes 2000 --rate 20000
run Dwhatsat20k ./herd-after  --mode probe --probes 2000 --rate 20000
run Eidle ./herd-before --mode probe --probes 1000 --probe-via nats
run Eidle ./herd-after  --mode probe --probes 1000 --probe-via nats
run Fsat ./herd-before -d 30s --verify all
run Fsat ./herd-after  -d 30s --verify all
run A20k ./herd-before -n 400000 -d 40s --rate 20000 --verify none
run A20k ./herd-after  -n 400000 -d 40s --rate 20000 --verify none
run B10k ./herd-before -n 200000 -d 40s --rate 10000 --verify none
run B10k ./herd-after  -n 200000 -d 40s --rate 10000 --verify none
