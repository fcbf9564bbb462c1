#!/bin/bash
# linger sweep: default Linger 2 ms (herd-s4) vs 1.5 ms vs 1 ms; 20k paced CPU and NATS convergence, 2 rounds.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=./herd-s4
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; $R $bin $label-$(basename $bin) "$@" | grep -E '^load|throughput|latency|cpu  |cpu per|convergence'; }
echo "start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  for b in ./herd-s4 ./herd-L1500 ./herd-L1; do run L20k$i $b -n 500000 -d 25s --rate 20000 --verify none; done
  for b in ./herd-s4 ./herd-L1500 ./herd-L1; do run Lc20n$i $b --mode probe --probes 2000 --probe-via nats --rate 20000; done
done
echo "end $(date +%T) load $(cat /proc/loadavg)"
