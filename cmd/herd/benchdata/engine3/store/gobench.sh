#!/bin/bash
# gobench.sh [TAGS]: the store benchmarks of test binaries store-TAG.test (go test -c ./node/store
# of each build, all with the same flood_bench_test.go), alternating, twice. Run from BENCH_DIR.
cd "${BENCH_DIR:-.}"
TAGS=${TAGS:-before after}
echo "start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do for b in $TAGS; do
  echo "## $b"
  ./store-$b.test -test.run XXX -test.bench 'PutFlood|Store_Put$|PutViewStale|Store_Get' -test.benchtime 2000000x -test.benchmem | grep Bench
done; done
for b in $TAGS; do echo "## $b"; ./store-$b.test -test.run XXX -test.bench 'Store_Memory' -test.benchtime 1x | grep Bench; done
echo "end $(date +%T) load $(cat /proc/loadavg)"
