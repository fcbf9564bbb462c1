package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// WriteText prints res for people.
func WriteText(w io.Writer, res Result) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	switch res.Mode {
	case ModePipeline:
		p("mode pipeline: %d connections × window %d over %d nodes, %d clients", res.Conns, res.Window, len(res.Addrs), res.Clients)
	case ModeOneShot:
		p("mode oneshot (close=%s): %d workers over %d nodes, %d clients", res.Close, res.Conns, len(res.Addrs), res.Clients)
	case ModeProbe:
		p("mode probe via %s: IAMAT at %s, %d other nodes", res.ProbeVia, res.Addrs[0], len(res.Addrs)-1)
	}
	if res.Rate > 0 {
		p("rate limit    %.0f/s", res.Rate)
	}
	if res.Requests > 0 || res.Errors > 0 {
		p("requests      %d in %.2fs (IAMAT %d, WHATSAT %d)", res.Requests, res.Seconds, res.IAMAT, res.WHATSAT)
		p("throughput    %.0f/s", res.Throughput)
		if n := len(res.PerSecond); n > 2 {
			// The first and last seconds are partial ramps.
			mid := res.PerSecond[1 : n-1]
			p("per second    min %d, max %d (whole seconds 2..%d)", slices.Min(mid), slices.Max(mid), n-1)
		}
		p("invalid (?)   %d", res.Invalid)
		p("errors        %d", res.Errors)
		for _, k := range slices.Sorted(maps.Keys(res.ErrorKinds)) {
			p("  %6d  %s", res.ErrorKinds[k], k)
		}
	}
	lat := func(name string, s *Summary) {
		if s != nil {
			p("%-13s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms (n=%d)",
				name, s.P50, s.P90, s.P99, s.P999, s.Max, s.Mean, s.Count)
		}
	}
	lat("latency", res.Latency)
	if res.LatencyWHATSAT != nil {
		lat("  IAMAT", res.LatencyIAMAT)
		lat("  WHATSAT", res.LatencyWHATSAT)
	}
	lat("convergence", res.Convergence)
	if res.Mode == ModeProbe {
		p("probe timeouts %d", res.ProbeTimeouts)
	}
	if s := res.Sockets; s != nil {
		p("tcp sockets   max in use %d, max TIME_WAIT %d, max orphaned %d (/proc/net/sockstat, as ss -s)", s.InUseMax, s.TimeWaitMax, s.OrphanMax)
	}
	if res.Herd != nil {
		writeHerdStats(p, res.Herd)
	}
	if res.HerdError != "" {
		p("herd          metrics not read: %s", res.HerdError)
	}
	if b := res.Balance; b != nil {
		p("flood balance published %.0f records to neighbors, received %.0f (read %.1fs after the run)", b.Published, b.Received, b.Seconds)
		for _, e := range b.Unequal {
			p("  %s -> %s: published %.0f, received %.0f (%+.0f)", e.From, e.To, e.Published, e.Received, e.Received-e.Published)
		}
		if l := b.Late; l != nil {
			p("  after the load: dropped %s; routes closed %s; %.0f records repaired", byReason(l.Dropped), byReason(l.RouteClosed), l.Repaired)
		}
	}
	if v := res.Verify; v != nil {
		verdict := "OK: every checked record is on every node"
		if !v.OK {
			verdict = "FAILED"
		}
		retried := ""
		if v.Retried > 0 {
			retried = fmt.Sprintf(" (the last %.1fs after the load)", v.LastPassed)
		}
		p("verify (%s)   %d clients × %d nodes = %d checks, %d failed, %d passed only after a retry%s, %.1fs: %s",
			v.Mode, v.Clients, v.Nodes, v.Checks, v.Failed, v.Retried, retried, v.Seconds, verdict)
		for _, a := range slices.Sorted(maps.Keys(v.Missing)) {
			p("  %s missing %d", a, v.Missing[a])
		}
		if v.Example != "" {
			p("  e.g. %s", strings.TrimSpace(v.Example))
		}
	}
}

// byReason is "none" or the non-zero counts of m as "reason n, ...".
func byReason(m map[string]float64) string {
	var rs []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		if m[r] != 0 {
			rs = append(rs, fmt.Sprintf("%s %.0f", r, m[r]))
		}
	}
	if len(rs) == 0 {
		return "none"
	}
	return strings.Join(rs, ", ")
}
