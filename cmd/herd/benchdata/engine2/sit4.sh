#!/bin/bash
# sitting 4: offline search slots A/B: herd-after2 (unbounded) vs herd-after3 (GOMAXPROCS per provider); saturated verified.
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
export BENCH=./herd-after3
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")"/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|cpu  |routes|verify|missing|e\.g\.|balance|after the load|cpu per'; echo "readloop warnings: $(grep -c Readloop $label-$(basename $bin).up.log) $(grep -h Readloop $label-$(basename $bin).up.log | grep -o 'time: [0-9.]*[a-z]*' | tr '\n' ' ')"; }
echo "sitting 4 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do
  run V$i ./herd-after2 -d 20s --verify all
  run V$i ./herd-after3 -d 20s --verify all
done
echo "sitting 4 end $(date +%T) load $(cat /proc/loadavg)"
