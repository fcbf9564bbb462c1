#!/bin/bash
# sitting 5: the final binary against main: saturated verified (readloop warnings, flood latency), paced 10k/20k.
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
export BENCH=./herd-final LAT=1
run() { local label=$1 bin=$2; shift 2; echo "=== $label $(basename $bin)"; "$(dirname "$0")"/run.sh $bin $label-$(basename $bin) "$@" | grep -E 'load|throughput|latency|convergence|cpu  |flood|routes|sync|verify|missing|e\.g\.|balance|after the load|cpu per|flood latency'; echo "readloop warnings: $(grep -c Readloop $label-$(basename $bin).up.log) $(grep -h Readloop $label-$(basename $bin).up.log | grep -o 'time: [0-9.]*[a-z]*' | tr '\n' ' ')"; }
echo "sitting 5 start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do
  run V$i ./herd-before -d 20s --verify all
  run V$i ./herd-final -d 20s --verify all
done
run W10k ./herd-before -n 300000 -d 30s --rate 10000 --verify none
run W10k ./herd-final  -n 300000 -d 30s --rate 10000 --verify none
run W20k ./herd-before -n 600000 -d 30s --rate 20000 --verify none
run W20k ./herd-final  -n 600000 -d 30s --rate 20000 --verify none
echo "sitting 5 end $(date +%T) load $(cat /proc/loadavg)"
