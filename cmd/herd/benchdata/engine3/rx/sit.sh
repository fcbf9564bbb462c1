#!/bin/bash
# sit.sh BIN...: one A/B sitting of the flood's link (engine round 3, rx): paced 10,000/s and
# 20,000/s (CPU per IAMAT, reply p99), NATS-probe convergence at 20,000/s and idle, the
# binaries alternating, one fresh herd per run, all driven by the last binary's bench.
# Run with an absolute path from BENCH_DIR (herd.yaml with ports moved, the binaries):
#   flock /work/notes/bench.lock /path/to/sit.sh ./herd-before ./herd-after
cd "${BENCH_DIR:-.}"
BINS=("$@"); [ ${#BINS[@]} -gt 0 ] || BINS=(./herd-before ./herd-after)
export BENCH=${BINS[-1]}
RUN="$(dirname "$0")"/../../engine2/run.sh
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$RUN" $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|convergence|timeouts|cpu  |flood  |cpu per'; }
echo "sitting start $(date +%T) load $(cat /proc/loadavg)"
for bin in "${BINS[@]}"; do run A10k $bin -n 300000 -d 30s --rate 10000 --verify none; done
for bin in "${BINS[@]}"; do run B20k $bin -n 600000 -d 30s --rate 20000 --verify none; done
for bin in "${BINS[@]}"; do run Cnats20k $bin --mode probe --probes 2000 --probe-via nats --rate 20000; done
for bin in "${BINS[@]}"; do run Eidle $bin --mode probe --probes 1000 --probe-via nats; done
echo "sitting end $(date +%T) load $(cat /proc/loadavg)"
