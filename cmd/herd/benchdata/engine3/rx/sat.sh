#!/bin/bash
# sat.sh BIN...: saturated `--verify all` runs (the link must not lose or fall behind at
# saturation), the binaries alternating, one fresh herd per run, driven by the last binary's bench.
cd "${BENCH_DIR:-.}"
BINS=("$@"); export BENCH=${BINS[-1]}
RUN="$(dirname "$0")"/../../engine2/run.sh
echo "saturated sitting start $(date +%T) load $(cat /proc/loadavg)"
for bin in "${BINS[@]}"; do
  echo "=== sat $(basename $bin)"
  "$RUN" $bin sat-$(basename $bin) -d 20s --verify all | grep -E 'load|throughput|latency|verify|failed|cpu  |flood  |after the load|routes|cpu per'
done
echo "saturated sitting end $(date +%T) load $(cat /proc/loadavg)"
