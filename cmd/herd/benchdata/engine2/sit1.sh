#!/bin/bash
# sitting 1: paced pairs and probes, before/after alternating, one fresh herd per run; bench client = herd-after.
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
export BENCH=./herd-after
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")"/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|convergence|timeouts|cpu  |rss|flood|cpu per'; }
echo "sitting 1 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  run A10k ./herd-before -n 300000 -d 30s --rate 10000 --verify none
  run A10k ./herd-after  -n 300000 -d 30s --rate 10000 --verify none
  run B20k ./herd-before -n 600000 -d 30s --rate 20000 --verify none
  run B20k ./herd-after  -n 600000 -d 30s --rate 20000 --verify none
done
run Cnats20k ./herd-before --mode probe --probes 2000 --probe-via nats --rate 20000
run Cnats20k ./herd-after  --mode probe --probes 2000 --probe-via nats --rate 20000
run Dwhatsat20k ./herd-before --mode probe --probes 2000 --rate 20000
run Dwhatsat20k ./herd-after  --mode probe --probes 2000 --rate 20000
run Eidle ./herd-before --mode probe --probes 1000 --probe-via nats
run Eidle ./herd-after  --mode probe --probes 1000 --probe-via nats
echo "sitting 1 end $(date +%T) load $(cat /proc/loadavg)"
