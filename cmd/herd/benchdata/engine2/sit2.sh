#!/bin/bash
# sitting 2: saturated verified runs (-d 20s --verify all); bench client = herd-after2 (late counters, repair-bound settle).
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
export BENCH=./herd-after2
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")"/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|cpu  |flood|routes|sync|verify|missing|e\.g\.|balance|->|after the load|cpu per'; grep -h "Readloop" $label-$(basename $bin).up.log | cut -c1-160 | head -5; }
echo "sitting 2 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  run S$i ./herd-before -d 20s --verify all
  run S$i ./herd-after2 -d 20s --verify all
done
for i in 3 4 5 6 7 8; do
  run S$i ./herd-after2 -d 20s --verify all
done
echo "sitting 2 end $(date +%T) load $(cat /proc/loadavg)"
