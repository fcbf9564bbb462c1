#!/bin/bash
# gobench.sh: the store benchmarks of two test binaries (go test -c ./node/store), alternating.
# Run from BENCH_DIR holding store-before.test and store-after.test.
cd "${BENCH_DIR:-.}"
echo "start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2; do for b in before after; do
  echo "## $b"
  ./store-$b.test -test.run XXX -test.bench 'PutFlood|Store_Put$|PutViewStale|Store_Get' -test.benchtime 2000000x -test.benchmem | grep Bench
done; done
for b in before after; do echo "## $b"; ./store-$b.test -test.run XXX -test.bench 'Store_Memory' -test.benchtime 1x | grep Bench; done
echo "end $(date +%T) load $(cat /proc/loadavg)"
