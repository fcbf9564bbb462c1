#!/bin/bash
# ladder.sh: round 4 (2026-12-01): a fresh herd-after up, then herd bench --ladder (saturate 10 s, 9 paced steps, 500 NATS probes each) and its SVG.
cd "${BENCH_DIR:-.}"   # holds herd.yaml (ports moved) and herd-after
./herd-after up -c herd.yaml > ladder.up.log 2>&1 &
P=$!
for i in $(seq 100); do grep -q 'is up' ladder.up.log && break; sleep 0.1; done
sleep 0.5
echo "start $(date +%T) load $(cat /proc/loadavg)"
./herd-after bench -c herd.yaml --ladder --ladder-saturate 10s --probes 500 --probe-via nats --ladder-svg ladder-2026-12-01-round4.svg
echo "end $(date +%T) load $(cat /proc/loadavg)"
kill $P; wait $P
