#!/bin/bash
# trace.sh BIN TAG RATE [HERDFILE]: a fresh herd at a paced RATE for 30 s; from second 6 a 15 s CPU
# profile (TAG.cpu.pprof) and, inside it from second 8, a 5 s runtime trace (TAG.trace, which then
# holds the CPU samples too: `go tool trace`, or tracean/ in this directory).
BIN=$1; TAG=$2; RATE=$3; H=${4:-herd.yaml}
cd "${BENCH_DIR:-.}"
(sleep 6; curl -s -o $TAG.cpu.pprof "http://127.0.0.1:26399/debug/pprof/profile?seconds=15") &
P1=$!
(sleep 8; curl -s -o $TAG.trace "http://127.0.0.1:26399/debug/pprof/trace?seconds=5") &
P2=$!
HERD=$H UPFLAGS="--pprof 127.0.0.1:26399" "$(dirname "$0")"/run.sh $BIN $TAG -n $((RATE*30)) -d 30s --rate $RATE --verify none | grep -E "load|throughput|latency|  cpu |cpu per|herd cpu"
wait $P1 $P2
