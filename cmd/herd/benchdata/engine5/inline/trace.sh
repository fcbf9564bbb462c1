#!/bin/bash
# trace.sh BIN TAG: a 2 s execution trace of a fresh herd while 1000 idle probes (NATS watch) run,
# written to TAG.trace (go tool trace -pprof=sched TAG.trace: where goroutines waited to run).
# Run from BENCH_DIR under flock /work/notes/bench.lock at nice -n -10.
BIN=$1; TAG=$2
cd "${BENCH_DIR:-.}"
(sleep 2.5; curl -s -o $TAG.trace "http://127.0.0.1:26799/debug/pprof/trace?seconds=2") &
P=$!
UPFLAGS="--pprof 127.0.0.1:26799" "$(dirname "$0")"/../../engine2/run.sh $BIN $TAG --mode probe --probes 1000 --probe-via nats | grep -E '^load|convergence'
wait $P
