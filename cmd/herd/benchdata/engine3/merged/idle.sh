#!/bin/bash
# idle.sh BIN...: idle convergence (1000 probes watched on NATS), three fresh herds per build, alternating.
# Run from BENCH_DIR under flock /work/notes/bench.lock.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
for i in 1 2 3; do for b in "$@"; do echo "=== idle$i $(basename $b)"; $R $b idle$i-$(basename $b) --mode probe --probes 1000 --probe-via nats | grep -E '^load|convergence'; done; done
