#!/bin/bash
# final.sh BEFORE AFTER: round 4's merged sitting. Paced 10,000/s and 20,000/s (CPU per IAMAT, reply
# tail), convergence at 20,000/s (NATS watch and WHATSAT polling, 2000 probes), idle convergence, and
# saturated --verify all; before and after alternating, one fresh herd per run.
# Run from BENCH_DIR (herd.yaml with ports moved, BENCHMARKS.md) under flock /work/notes/bench.lock.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=${BENCH:-$2}
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|convergence|cpu  |verify'; }
echo "final sitting start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  for b in "$1" "$2"; do run G10k$i $b -n 250000 -d 25s --rate 10000 --verify none; done
  for b in "$1" "$2"; do run G20k$i $b -n 500000 -d 25s --rate 20000 --verify none; done
  for b in "$1" "$2"; do run Gc20n$i $b --mode probe --probes 2000 --probe-via nats --rate 20000; done
  for b in "$1" "$2"; do run Gc20w$i $b --mode probe --probes 2000 --rate 20000; done
  for b in "$1" "$2"; do run Gidle$i $b --mode probe --probes 1000 --probe-via nats; done
  for b in "$1" "$2"; do run Gsat$i $b -d 20s --verify all; done
done
echo "final sitting end $(date +%T) load $(cat /proc/loadavg)"
