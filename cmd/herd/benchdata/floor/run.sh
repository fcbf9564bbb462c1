#!/bin/bash
# run.sh TAG RATE CMD... : start CMD (a herd or a floor: `./herd up -c herd.yaml`,
# `./floodfloor -c herd.yaml`, `./floodfloor -c herd.yaml -flood=false`), wait for its
# "up" line, drive it with one paced `./herd bench -c herd.yaml --no-metrics --verify none
# --rate RATE` for ${SECS:-20} seconds, and print the process's CPU per IAMAT from /proc over the
# bench, with the load average before and after. Run from a directory holding herd.yaml
# (ports moved off the defaults) and the binaries. Logs kept as TAG.*.
TAG=$1; RATE=$2; shift 2
"$@" > $TAG.srv.log 2>&1 &
PID=$!
for i in $(seq 200); do grep -q ' up' $TAG.srv.log && break; sleep 0.1; done
grep -q ' up' $TAG.srv.log || { echo "$TAG: not up"; cat $TAG.srv.log; kill $PID; exit 3; }
sleep 0.5
read -r a b <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
l0=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(date +%T)
./herd bench -c herd.yaml --no-metrics --verify none --rate $RATE -n $((RATE*${SECS:-20})) -d ${SECS:-20}s > $TAG.bench.out 2>&1
rc=$?
read -r c d <<<"$(awk '{print $14, $15}' /proc/$PID/stat)"
n=$(awk '/^requests/{print $2}' $TAG.bench.out)
p99=$(grep -i -m1 'p99' $TAG.bench.out | tr -s ' ')
echo "$TAG rate $RATE at $t0 load $l0 -> $(cut -d' ' -f1-3 /proc/loadavg): $n requests, cpu user $((c-a)) sys $((d-b)) ticks, per IAMAT $(echo "scale=2; ($c+$d-$a-$b)*10000/$n" | bc) us (sys $(echo "scale=2; ($d-$b)*10000/$n" | bc)); $p99"
kill $PID; wait $PID 2>/dev/null
exit $rc
