#!/bin/bash
# sit.sh ROUNDS : one sitting of BENCHMARKS.md "The floor of the required parts". From a directory
# holding herd.yaml (deploy/herd.yaml with ports moved: sed 's/127\.0\.0\.1:1\([2468]\).\(..\)/127.0.0.1:2\13\2/')
# and the binaries:
#   herd              go build ./cmd/herd
#   floodfloor        go build ./cmd/herd/benchdata/floodfloor
#   floodfloor-fixed  the same with fixed-window.patch applied (git apply; the window never adapts)
# Per round and rate (10,000/s, 20,000/s), alternating: the herd, the floor, the floor without the
# flood, and the floor with fixed publish windows of 2, 8, 32 and 128 ms (CPU per IAMAT, run.sh);
# then convergence at 20,000/s for the floor and each fixed window (conv.sh).
D=$(dirname "$0")
for r in $(seq ${1:-1}); do
  for RATE in 10000 20000; do
    $D/run.sh r$r-herd-$RATE $RATE ./herd up -c herd.yaml
    $D/run.sh r$r-floor-$RATE $RATE ./floodfloor -c herd.yaml
    $D/run.sh r$r-noflood-$RATE $RATE ./floodfloor -c herd.yaml -flood=false
    for L in 2ms 8ms 32ms 128ms; do $D/run.sh r$r-fixed$L-$RATE $RATE ./floodfloor-fixed -c herd.yaml -linger $L; done
  done
  $D/conv.sh r$r-conv-floor 20000 ./floodfloor -c herd.yaml -observers
  for L in 2ms 8ms 32ms 128ms; do $D/conv.sh r$r-conv-fixed$L 20000 ./floodfloor-fixed -c herd.yaml -observers -linger $L; done
done 2>&1 | grep ' rate '
