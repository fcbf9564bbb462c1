#!/bin/bash
# procs1.sh BIN: the same build with GOMAXPROCS=1 against the default (2 on this box): paced 10,000/s
# and 20,000/s, convergence at 20,000/s (NATS watch) twice, saturated. Run from BENCH_DIR under
# flock /work/notes/bench.lock. The bench client is BIN with the default GOMAXPROCS.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
BIN=$(realpath $1)
printf '#!/bin/bash\nGOMAXPROCS=1 exec %s "$@"\n' "$BIN" > ./herd-procs1 && chmod +x ./herd-procs1
export BENCH=$BIN
for b in $BIN $PWD/herd-procs1; do $R $b p10k-$(basename $b) -n 250000 -d 25s --rate 10000 --verify none | grep -E '^load|latency|cpu  '; done
for b in $BIN $PWD/herd-procs1; do $R $b p20k-$(basename $b) -n 500000 -d 25s --rate 20000 --verify none | grep -E '^load|latency|cpu  '; done
for i in 1 2; do for b in $BIN $PWD/herd-procs1; do $R $b pc20-$(basename $b) --mode probe --probes 2000 --probe-via nats --rate 20000 | grep -E '^load|convergence|cpu  '; done; done
for b in $BIN $PWD/herd-procs1; do $R $b psat-$(basename $b) -d 15s --verify none | grep -E '^load|throughput|latency|cpu  '; done
