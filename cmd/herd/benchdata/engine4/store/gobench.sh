#!/bin/bash
# gobench.sh: the store benchmarks of a test binary store-after.test (go test -c -o ... ./node/store
# of engine4-store): BenchmarkStore_PutHerd (five stores of 100,000 clients fed flood messages,
# seq = PutView one by one, batch = PutViews), three rounds, and PutFlood (one store, 1M clients).
# Run from BENCH_DIR under flock /work/notes/bench.lock.
cd "${BENCH_DIR:-.}"
T=${TEST:-./store-after.test}
echo "start $(date +%T) load $(cat /proc/loadavg)"
for i in 1 2 3; do
  $T -test.run XXX -test.bench 'PutHerd' -test.benchtime 2000000x -test.benchmem | grep Bench
done
$T -test.run XXX -test.bench 'PutFlood' -test.benchtime 2000000x -test.benchmem | grep Bench
echo "end $(date +%T) load $(cat /proc/loadavg)"
