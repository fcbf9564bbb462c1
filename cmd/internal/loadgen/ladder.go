package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// A ladder finds the herd's saturated rate, then holds paced rates at
// fractions of it, measuring at each step the reply latency of the paced
// load and the flood convergence of probes sent meanwhile: how latency
// grows with load, in one run.

// LadderConfig is a ladder run: Base is each step's configuration (its
// Mode, Rate and Duration are set per step).
type LadderConfig struct {
	Base Config
	// Saturate is how long the saturated run that finds the top rate lasts.
	Saturate time.Duration
	// Steps are the fractions of the saturated rate to hold, in order.
	Steps []float64
}

// DefaultLadderSteps are 10% to 90% of the saturated rate.
var DefaultLadderSteps = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// LadderStep is one paced step of a ladder.
type LadderStep struct {
	Fraction   float64    `json:"fraction"`
	Rate       float64    `json:"rate"`       // asked
	Throughput float64    `json:"throughput"` // achieved by the paced load
	ReplyP99   float64    `json:"reply_p99_ms"`
	ConvP99    float64    `json:"convergence_p99_ms"`
	ConvP50    float64    `json:"convergence_p50_ms"`
	Timeouts   int        `json:"probe_timeouts,omitempty"`
	Herd       *HerdStats `json:"herd,omitempty"`
	Load       string     `json:"loadavg,omitempty"` // /proc/loadavg before the step
}

// LadderResult is a whole ladder.
type LadderResult struct {
	When      time.Time    `json:"when"`
	Saturated Result       `json:"saturated"`
	ProbeVia  ProbeVia     `json:"probe_via"`
	Steps     []LadderStep `json:"steps"`
}

// RunLadder runs a ladder. progress, when not nil, is told of each step as
// it ends.
func RunLadder(ctx context.Context, lc LadderConfig, progress func(LadderStep)) (LadderResult, error) {
	res := LadderResult{When: time.Now(), ProbeVia: lc.Base.ProbeVia}
	sat := lc.Base
	sat.Mode, sat.Rate, sat.Duration, sat.Count, sat.Verify = ModePipeline, 0, lc.Saturate, 0, VerifyNone
	r, err := Run(ctx, sat)
	if err != nil {
		return res, fmt.Errorf("saturated run: %w", err)
	}
	res.Saturated = r
	if r.Throughput <= 0 {
		return res, fmt.Errorf("saturated run: no throughput (%d errors)", r.Errors)
	}
	for _, f := range lc.Steps {
		step := lc.Base
		step.Mode, step.Rate, step.Count, step.Verify = ModeProbe, f*r.Throughput, 0, VerifyNone
		st := LadderStep{Fraction: f, Rate: step.Rate, Load: loadAvg()}
		sr, err := Run(ctx, step)
		if err != nil {
			return res, fmt.Errorf("step %.0f%%: %w", 100*f, err)
		}
		st.Throughput, st.Timeouts, st.Herd = sr.Throughput, sr.ProbeTimeouts, sr.Herd
		if sr.Latency != nil {
			st.ReplyP99 = sr.Latency.P99
		}
		if sr.Convergence != nil {
			st.ConvP99, st.ConvP50 = sr.Convergence.P99, sr.Convergence.P50
		}
		res.Steps = append(res.Steps, st)
		if progress != nil {
			progress(st)
		}
	}
	return res, nil
}

// loadAvg is the machine's load averages, as /proc/loadavg says them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// WriteLadderTable prints a ladder as a Markdown table.
func WriteLadderTable(w io.Writer, res LadderResult) {
	fmt.Fprintf(w, "saturated: %.0f IAMAT/s (%d connections × window %d, %.1fs); convergence via %s\n\n",
		res.Saturated.Throughput, res.Saturated.Conns, res.Saturated.Window, res.Saturated.Seconds, res.ProbeVia)
	fmt.Fprintln(w, "| step | rate (IAMAT/s) | achieved | reply p99 (ms) | convergence p50 / p99 (ms) | herd CPU per IAMAT | GC | load avg |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range res.Steps {
		cpu, gc := "—", "—"
		if s.Herd != nil {
			cpu, gc = fmt.Sprintf("%.1f µs", s.Herd.CPUPerIAMAT), fmt.Sprintf("%.1f%%", 100*s.Herd.GCShare)
		}
		to := ""
		if s.Timeouts > 0 {
			to = fmt.Sprintf(" (%d timeouts)", s.Timeouts)
		}
		fmt.Fprintf(w, "| %.0f%% | %.0f | %.0f | %.2f | %.2f / %.2f%s | %s | %s | %s |\n",
			100*s.Fraction, s.Rate, s.Throughput, s.ReplyP99, s.ConvP50, s.ConvP99, to, cpu, gc, s.Load)
	}
}
