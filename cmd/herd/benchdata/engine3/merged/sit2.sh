#!/bin/bash
# merged sitting 2: herd-before against herd-after: convergence probes (NATS watch and WHATSAT polling at
# 20,000/s, idle), then saturated runs with --verify all, alternating, one fresh herd per run.
# Run from BENCH_DIR under flock /work/notes/bench.lock.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=./herd-after
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|cpu  |cpu per|convergence|failed|verif'; }
echo "sitting 2 start $(date +%T) load $(cat /proc/loadavg)"
for b in ./herd-before ./herd-after; do run Cnats20k $b --mode probe --probes 2000 --probe-via nats --rate 20000; done
for b in ./herd-before ./herd-after; do run Dwhatsat20k $b --mode probe --probes 2000 --rate 20000; done
for b in ./herd-before ./herd-after; do run Eidle $b --mode probe --probes 1000 --probe-via nats; done
for i in 1 2; do for b in ./herd-before ./herd-after; do run Fsat$i $b -d 20s --verify all; done; done
echo "sitting 2 end $(date +%T) load $(cat /proc/loadavg)"
