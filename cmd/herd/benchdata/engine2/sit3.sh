#!/bin/bash
# sitting 3: a million clients, before and after; the TCP echo floor; a profile of the after binary at 10,000/s.
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved: BENCHMARKS.md) and the binaries
echo "sitting 3 start $(date +%T) load $(cat /proc/loadavg)"
for b in herd-before herd-after2; do echo "##### $b"; BENCH_DIR=. "$(dirname "$0")"/../million.sh ./$b; done
echo "##### echo floor"
./echofloor -addr 127.0.0.1:22799 > echo.log 2>&1 &
E=$!; sleep 0.5
for rate in 10000 20000; do
  read -r a b <<<"$(awk '{print $14, $15}' /proc/$E/stat)"
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
  ./herd-after2 bench --addr 127.0.0.1:22799 --no-metrics --verify none --rate $rate -n $((rate*20)) -d 20s | grep -E "throughput|latency"
  read -r c d <<<"$(awk '{print $14, $15}' /proc/$E/stat)"
  echo "echo floor at $rate/s: $((c+d-a-b)) ticks = $(echo "scale=2; ($c+$d-$a-$b)*10000/($rate*20)" | bc) us per line"
done
kill $E
echo "sitting 3 end $(date +%T) load $(cat /proc/loadavg)"
