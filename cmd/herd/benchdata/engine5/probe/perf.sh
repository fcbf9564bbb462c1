#!/bin/bash
# perf.sh BIN TAG RATE: `perf record -g` of the herd process for 15 s of a 30 s paced run (kernel and
# user stacks; a Go profile sees no kernel time). Read with
#   perf report -i TAG.perf.data --no-children --sort sym -g none
#   perf report -i TAG.perf.data --children --sort sym -g none
# Run from BENCH_DIR (herd.yaml with ports moved, BENCHMARKS.md) under flock /work/notes/bench.lock.
BIN=$1; TAG=$2; RATE=$3
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
(sleep 6; P=$(pgrep -f "$(basename $BIN) up -c herd.yaml" | head -1); perf record -F 999 -g -p $P -o $TAG.perf.data -- sleep 15 >/dev/null 2>&1) &
Q=$!
$R $BIN $TAG -n $((RATE*30)) -d 30s --rate $RATE --verify none | grep -E "load|throughput|latency|cpu"
wait $Q
