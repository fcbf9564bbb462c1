#!/bin/bash
# table.sh SIT.out: one row per run of a sitting: label, load before, throughput, reply p50/p99/p99.9,
# herd CPU per request (from /proc), context switches.
awk '/^=== /{if (l!="") print l" | "ld" | "tp" | "p50" / "p99" / "p999" | "cpu" | "cs; l=substr($0,5); ld=tp=p50=p99=p999=cpu=cs=""}
/^load: /{ld=$2}
/^throughput/{tp=$2}
/^latency/{p50=$3; p99=$7; p999=$9}
/^cpu per request/{cpu=$4}
/ctx switches/{for(i=1;i<=NF;i++) if ($i=="threads)") cs=$(i+1)}
END{print l" | "ld" | "tp" | "p50" / "p99" / "p999" | "cpu" | "cs}' "$1"
