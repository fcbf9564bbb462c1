#!/bin/bash
# paced.sh BEFORE AFTER [REPS]: paced 10,000/s and 20,000/s (CPU per IAMAT, reply tail), convergence
# at 20,000/s (NATS watch, 2000 probes) and saturated --verify all; REPS (default 2) rounds, before
# and after alternating, one fresh herd per run. The bench client is BENCH (default BEFORE) for both.
# Run from BENCH_DIR under flock /work/notes/bench.lock at nice -n -10.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=${BENCH:-$1}
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|convergence|cpu  |verify|cpu per'; }
echo "paced sitting start $(date +%T) load $(cat /proc/loadavg)"
for i in $(seq ${3:-2}); do
  if [ $((i % 2)) = 1 ]; then order="$1 $2"; else order="$2 $1"; fi
  for b in $order; do run P10k$i $b -n 250000 -d 25s --rate 10000 --verify none; done
  for b in $order; do run P20k$i $b -n 500000 -d 25s --rate 20000 --verify none; done
  for b in $order; do run C20n$i $b --mode probe --probes 2000 --probe-via nats --rate 20000; done
  for b in $order; do run S$i $b -d 20s --verify all; done
done
echo "paced sitting end $(date +%T) load $(cat /proc/loadavg)"
