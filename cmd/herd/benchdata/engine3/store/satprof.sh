#!/bin/bash
# satprof.sh BIN TAG: a fresh herd at the default 100,000 clients, saturated 20 s (verify sample),
# with a 15 s CPU profile of the herd saved as TAG.sat.pprof. Run from BENCH_DIR (engine2/run.sh).
BIN=$1; TAG=$2
cd "${BENCH_DIR:-.}"
(sleep 4; curl -s -o $TAG.sat.pprof "http://127.0.0.1:26799/debug/pprof/profile?seconds=15") &
UPFLAGS="--pprof 127.0.0.1:26799" "$(dirname "$0")"/../../engine2/run.sh $BIN $TAG -d 20s --verify sample | grep -E "load|throughput|latency|cpu|flood|sync|rss|verify"
wait
