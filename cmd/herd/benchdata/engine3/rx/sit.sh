#!/bin/bash
# sit.sh [BEFORE AFTER]: one A/B sitting of the flood's receive path (engine round 3, rx):
# paced 10,000/s and 20,000/s (CPU per IAMAT, reply p99), NATS-probe convergence at 20,000/s
# and idle, before/after alternating, one fresh herd per run, both driven by AFTER's bench.
# Run with an absolute path from BENCH_DIR (herd.yaml with ports moved, the binaries):
#   flock /work/notes/bench.lock /path/to/sit.sh ./herd-before ./herd-after
cd "${BENCH_DIR:-.}"
A=${1:-./herd-before}; B=${2:-./herd-after}
export BENCH=$B
RUN="$(dirname "$0")"/../../engine2/run.sh
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$RUN" $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|convergence|timeouts|cpu  |flood  |cpu per'; }
echo "sitting start $(date +%T) load $(cat /proc/loadavg)"
for bin in $A $B; do run A10k $bin -n 300000 -d 30s --rate 10000 --verify none; done
for bin in $A $B; do run B20k $bin -n 600000 -d 30s --rate 20000 --verify none; done
for bin in $B $A; do run Cnats20k $bin --mode probe --probes 2000 --probe-via nats --rate 20000; done
for bin in $B $A; do run Eidle $bin --mode probe --probes 1000 --probe-via nats; done
echo "sitting end $(date +%T) load $(cat /proc/loadavg)"
