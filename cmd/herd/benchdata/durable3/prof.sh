#!/bin/bash
cd "$(dirname "$0")"
rm -rf bdata
./herd-new up -c herd.yaml --data bdata --cpuprofile es.cpu > b.out 2> b.err &
pid=$!
until grep -q "is up" b.out; do sleep 0.1; done
./herd-new bench -c herd.yaml -d 20s --verify none 2>&1 | grep -E "^requests|cpu"
kill -TERM $pid; wait $pid
rm -rf bdata
