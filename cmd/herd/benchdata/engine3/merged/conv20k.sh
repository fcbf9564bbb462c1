#!/bin/bash
# conv20k.sh BIN...: convergence at a paced 20,000/s (2000 probes; NATS watch, then WHATSAT polling),
# three fresh herds per build and kind, alternating. Run from BENCH_DIR under flock /work/notes/bench.lock.
R="$(cd "$(dirname "$0")/../../engine2" && pwd)/run.sh"
cd "${BENCH_DIR:-.}"
export BENCH=${BENCH:-./herd-final}
for i in 1 2 3; do for b in "$@"; do
  echo "=== nats$i $(basename $b)"; $R $b c20n$i-$(basename $b) --mode probe --probes 2000 --probe-via nats --rate 20000 | grep -E '^load|latency|convergence'
  echo "=== whatsat$i $(basename $b)"; $R $b c20w$i-$(basename $b) --mode probe --probes 2000 --rate 20000 | grep -E '^load|latency|convergence'
done; done
