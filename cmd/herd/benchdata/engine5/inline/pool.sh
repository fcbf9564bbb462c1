#!/bin/bash
# pool.sh LOG...: idle.sh logs pooled: median and range of convergence p50 and p99 per build, and in how many
# pairs (idleN of one log) the after build had the lower figure. Run from BENCH_DIR.
for f in "$@"; do awk -v f=$f '/^=== /{i=$2; b=$3} /^convergence/{print f, i, b, $3, $7}' $f; done > ${BENCH_DIR:-.}/.pool.$$ 
for b in herd-before herd-after; do
  for col in 4 5; do
    awk -v b=$b -v c=$col '$3==b{print $c}' ${BENCH_DIR:-.}/.pool.$$ | sort -n | awk -v b=$b -v c=$col '{a[NR]=$1} END {printf "%s %s n=%d median %.3f range %.3f-%.3f\n", b, (c==4?"p50":"p99"), NR, (a[int((NR+1)/2)]+a[int(NR/2)+1])/2, a[1], a[NR]}'
  done
done
awk '{k=$1" "$2; v[k","$3]=$5; w[k","$3]=$4; keys[k]=1} END {for (k in keys) if ((k",herd-before") in v && (k",herd-after") in v) {n++; if (v[k",herd-after"]<v[k",herd-before"]) p99++; if (w[k",herd-after"]<w[k",herd-before"]) p50++}; print "pairs", n, "after lower p99 in", p99, "after lower p50 in", p50}' ${BENCH_DIR:-.}/.pool.$$
rm -f ${BENCH_DIR:-.}/.pool.$$
