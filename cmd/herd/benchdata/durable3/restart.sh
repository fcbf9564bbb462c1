#!/bin/bash
# restart.sh ROUNDS: alternating before/new restarts of copies of kill-data and
# clean-data: the whole herd (herd up) and one node alone (herd node).
cd "$(dirname "$0")"
A="127.0.0.1:25001 127.0.0.1:25002 127.0.0.1:25003 127.0.0.1:25004 127.0.0.1:25005"
for r in $(seq 1 ${1:-2}); do
  for kind in kill clean; do
    for bin in before new; do
      rm -rf run; cp -a $kind-data run; sync
      echo -n "round $r $kind $bin herd: "; ./rtbin ./herd-$bin herd.yaml run kill $A
      rm -rf run; cp -a $kind-data run; sync
      echo -n "round $r $kind $bin Goloman alone: "; RT_NODE=Goloman ./rtbin ./herd-$bin herd.yaml run kill 127.0.0.1:25001
    done
  done
done
rm -rf run
