#!/bin/bash
# conv.sh TAG RATE CMD... : start CMD (it must serve the herd file's NATS ports: floodfloor -observers),
# then `herd bench --mode probe --probe-via nats --probes 2000 --rate RATE`, print convergence.
TAG=$1; RATE=$2; shift 2
"$@" > $TAG.srv.log 2>&1 &
PID=$!
for i in $(seq 200); do grep -q ' up' $TAG.srv.log && break; sleep 0.1; done
sleep 0.5
l0=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(date +%T)
./herd bench -c herd.yaml --no-metrics --verify none --mode probe --probe-via nats --probes ${PROBES:-2000} --rate $RATE > $TAG.bench.out 2>&1
echo "$TAG rate $RATE at $t0 load $l0: $(grep -i 'converge' $TAG.bench.out | tr -s ' ' | head -3 | tr '\n' ' ')"
kill $PID; wait $PID 2>/dev/null
