#!/bin/bash
# satloop.sh BIN N PREFIX [bench args]: N saturated verified runs, route closes scraped every second.
BIN=$1; N=$2; P=$3; shift 3
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
for i in $(seq $N); do
  ( while sleep 1; do
      ts=$(date +%T.%N | cut -c1-12)
      for p in 1 2 3 4 5; do curl -s -m 1 localhost:2872$p/metrics | grep -E "^herd_nats_route_closed|^herd_antientropy_repaired" | sed "s/^/$ts /"; done
    done ) > $P$i.scrape 2>/dev/null &
  S=$!
  echo "== run $i"
  "$(dirname "$0")"/run.sh $BIN $P$i -d 20s --verify all "$@" | grep -E 'load|throughput|latency|cpu  |flood|routes|sync|verify|missing|e\.g\.|balance|->'
  kill $S
done
