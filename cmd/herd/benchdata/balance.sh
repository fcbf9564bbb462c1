#!/bin/bash
# Used for BENCHMARKS.md (2026-11-30): run against a herd still up after a saturated run.
# After a KEEP run: per directed edge, records Holiday etc. published to X vs records X received from them.
declare -A port=([Goloman]=28321 [Hands]=28322 [Holiday]=28323 [Welsh]=28324 [Wilkes]=28325)
for n in Goloman Hands Holiday Welsh Wilkes; do curl -s 127.0.0.1:${port[$n]}/metrics > /tmp/herd-m-$n.txt; done
for from in Goloman Hands Holiday Welsh Wilkes; do
  for to in Goloman Hands Holiday Welsh Wilkes; do
    pub=$(grep "^herd_flood_published_records_total{node=\"$from\",to=\"$to\"}" /tmp/herd-m-$from.txt | awk '{print $2}')
    [ -z "$pub" ] && continue
    rec=$(grep "^herd_flood_received_records_total{from=\"$from\",node=\"$to\"" /tmp/herd-m-$to.txt | awk '{s+=$2} END{print s+0}')
    awk -v f="$from" -v t="$to" -v p="$pub" -v r="$rec" 'BEGIN{printf "%s -> %s: published %d received %d diff %d\n", f, t, p, r, p-r}'
  done
done
