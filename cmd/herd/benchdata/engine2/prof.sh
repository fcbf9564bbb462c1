#!/bin/bash
# prof.sh BIN TAG RATE: 20 s CPU profile of a fresh herd at a paced rate.
BIN=$1; TAG=$2; RATE=$3
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
(sleep 6; curl -s -o $TAG.cpu.pprof "http://127.0.0.1:26799/debug/pprof/profile?seconds=20") &
P=$!
UPFLAGS="--pprof 127.0.0.1:26799" "$(dirname "$0")"/run.sh $BIN $TAG -n $((RATE*30)) -d 30s --rate $RATE --verify none | grep -E "load|throughput|latency|cpu|flood|sync"
wait $P
