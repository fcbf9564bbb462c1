#!/bin/bash
# profsit.sh RATE BIN...: a 20 s CPU profile of a fresh herd at a paced RATE for each binary
# (engine2/prof.sh), profiles kept as prof-BIN-RATE.cpu.pprof in BENCH_DIR.
cd "${BENCH_DIR:-.}"
RATE=$1; shift
echo "profile sitting start $(date +%T) load $(cat /proc/loadavg)"
for bin in "$@"; do
  echo "=== $(basename $bin) $RATE/s"
  "$(dirname "$0")"/../../engine2/prof.sh $bin prof-$(basename $bin)-$RATE $RATE
done
echo "profile sitting end $(date +%T) load $(cat /proc/loadavg)"
