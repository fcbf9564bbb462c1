#!/bin/bash
# dup A/B on main after bus-link: herd-m2 (main 32020b9+) vs herd-dup2 (engine4-dup merged with it);
# saturated x3, paced 10k and 20k x2, alternating. Run under nice -n -10 (other workers' tests run at 0).
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=./herd-m2
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|cpu  |cpu per|flood  |verify'; }
echo "start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do for b in ./herd-m2 ./herd-dup2; do run Esat$i $b -d 20s --verify all; done; done
for i in 1 2; do
  for b in ./herd-m2 ./herd-dup2; do run E10k$i $b -n 250000 -d 25s --rate 10000 --verify none; done
  for b in ./herd-m2 ./herd-dup2; do run E20k$i $b -n 500000 -d 25s --rate 20000 --verify none; done
done
echo "end $(date +%T) load $(cat /proc/loadavg)"
