#!/bin/bash
# bench2.sh ROUNDS: saturated 20 s runs alternating memory-only (herd-new),
# everysec (herd-new: 1 ms linger) and everysec (herd-linger: 5 ms / 1024).
cd "$(dirname "$0")"
run() { # bin mode
  rm -rf bdata
  local flags=""; [ "$2" != mem ] && flags="--data bdata"
  $1 up -c herd.yaml $flags > b.out 2> b.err &
  local pid=$!
  until grep -q "is up" b.out; do sleep 0.1; done
  echo "== $1 $2 $(cat /proc/loadavg | cut -d' ' -f1-3)"
  $1 bench -c herd.yaml -d 20s --verify none 2>&1 | grep -E "^requests|p99|^  cpu"
  kill -TERM $pid; wait $pid
}
for r in $(seq 1 ${1:-3}); do
  run ./herd-new mem; run ./herd-new everysec; run ./herd-linger everysec
done
rm -rf bdata
