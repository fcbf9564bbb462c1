#!/bin/bash
# sitting 6: 20k/s traces (trace.sh) of the after build and of storejit (main + the store
# compaction jitter experiment, not on this branch): do the client-port wait bursts move?
cd "${BENCH_DIR:-.}"
D=$(dirname "$0")
echo "sitting 6 start $(date +%T) load $(cat /proc/loadavg)"
for b in after storejit; do echo "=== trace herd5 20k $b"; $D/trace.sh ./herd-$b s6-tr5-20k-$b 20000; done
echo "sitting 6 end $(date +%T) load $(cat /proc/loadavg)"
