#!/bin/bash
# fill.sh: a herd of ~1M clients per node in data/, killed with -9 (kill-data/)
# and stopped cleanly (clean-data/).
set -e
cd "$(dirname "$0")"
rm -rf data kill-data clean-data
./herd-new up -c herd.yaml --data data > fill.out 2> fill.err &
pid=$!
until grep -q "is up" fill.out; do sleep 0.1; done
recs() { for p in 1 2 3 4 5; do curl -s 127.0.0.1:2822$p/metrics | awk '/^herd_records[ {]/{print $2}'; done | tr '\n' ' '; }
settle() {
  prev=""
  for i in $(seq 1 120); do
    cur=$(recs); echo "records: $cur"
    if [ -n "$cur" ] && [ "$cur" = "$prev" ] && [ "$(echo $cur | tr ' ' '\n' | sort -u | wc -l)" = 1 ]; then break; fi
    prev=$cur; sleep 2
  done
}
# 1M new clients, then 800k updates of them: the log tail after the last snapshot
./herd-new bench -c herd.yaml --clients 1000000 -n 1000000 -d 300s --prefix fill- --verify none 2>&1 | grep -E "IAMAT|rate|clients" | head -5
settle
ls -la data/Goloman
./herd-new bench -c herd.yaml --clients 1000000 -n 800000 -d 300s --prefix fill- --verify none 2>&1 | grep -E "IAMAT|rate|clients" | head -5
settle
kill -9 $pid; wait $pid || true
du -sh data; ls -la data/*/ | head -30
cp -a data kill-data
# a clean stop from the kill copy: snapshots
./rtbin ./herd-new herd.yaml data term 127.0.0.1:25001 127.0.0.1:25002 127.0.0.1:25003 127.0.0.1:25004 127.0.0.1:25005
cp -a data clean-data
du -sh kill-data clean-data
