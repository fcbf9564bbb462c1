package loadgen

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/natsproxy"
	"github.com/herdhq/herd/node/places/offline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startLine starts a real herd A–B–C (C two flood hops from A) on port 0
// with the offline Places provider and waits until it is formed.
// startLine starts the herd A – B – C (nodetest) with the offline Places
// data, and returns its nodes in that order. The data is decoded here, once:
// offline.New would decode it at each node's first WHATSAT, which under
// the race detector on a busy machine takes seconds and stalls a probe.
func startLine(t *testing.T) []*node.Node {
	t.Helper()
	ds, err := offline.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	h := nodetest.Start(t, nodetest.Line3, nodetest.WithConfig(func(_ string, c *node.Config) {
		c.Places = offline.NewWithDataset(ds)
	}))
	return []*node.Node{h.Node("A"), h.Node("B"), h.Node("C")}
}

func addrs(nodes []*node.Node) []string {
	var a []string
	for _, n := range nodes {
		a = append(a, n.ClientAddr())
	}
	return a
}

func testConfig(nodes []*node.Node) Config {
	cfg := DefaultConfig()
	cfg.Addrs = addrs(nodes)
	cfg.Duration = 10 * time.Second // a cap; Count ends the runs
	cfg.Conns, cfg.Window, cfg.Clients = 3, 16, 300
	cfg.Verify = VerifyAll
	cfg.Settle = 5 * time.Second
	return cfg
}

func TestRun_Modes(t *testing.T) {
	nodes := startLine(t)
	tests := []struct {
		name  string
		edit  func(*Config)
		check func(t *testing.T, res Result)
	}{
		{"pipeline with WHATSAT mix", func(c *Config) {
			c.Count, c.WhatsatFraction = 3000, 0.2
		}, func(t *testing.T, res Result) {
			if res.Requests != 3000 || res.IAMAT+res.WHATSAT != 3000 {
				t.Errorf("requests %d (IAMAT %d + WHATSAT %d), want 3000", res.Requests, res.IAMAT, res.WHATSAT)
			}
			if res.WHATSAT == 0 || res.LatencyWHATSAT == nil {
				t.Errorf("no WHATSAT in a 0.2 mix: %+v", res)
			}
		}},
		{"pipeline rate-limited", func(c *Config) {
			c.Count, c.Rate = 400, 2000 // about 0.2 s
		}, func(t *testing.T, res Result) {
			if res.Requests != 400 {
				t.Errorf("requests %d, want 400", res.Requests)
			}
			if res.Seconds < 0.15 {
				t.Errorf("400 requests at 2000/s took %.3fs, want about 0.2s", res.Seconds)
			}
		}},
		{"oneshot half-close", func(c *Config) {
			c.Mode, c.Count = ModeOneShot, 300
		}, func(t *testing.T, res Result) {
			if res.Requests != 300 {
				t.Errorf("requests %d, want 300", res.Requests)
			}
		}},
		{"oneshot reset", func(c *Config) {
			c.Mode, c.Count, c.Close = ModeOneShot, 300, CloseReset
		}, func(t *testing.T, res Result) {
			if res.Requests != 300 {
				t.Errorf("requests %d, want 300", res.Requests)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(nodes)
			tt.edit(&cfg)
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v (%+v)", err, res.Verify)
			}
			if res.Errors != 0 || res.Invalid != 0 {
				t.Errorf("errors %d (%v), invalid %d", res.Errors, res.ErrorKinds, res.Invalid)
			}
			if res.Latency == nil || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
				t.Errorf("latency %+v", res.Latency)
			}
			v := res.Verify
			if v == nil || !v.OK || v.Nodes != 3 || v.Clients == 0 || v.Checks != 3*v.Clients {
				t.Errorf("verify %+v", v)
			}
			tt.check(t, res)
		})
	}
}

// TestRun_Probe measures convergence both ways. The NATS watch also runs
// with its first handshake overtaken by the server's first PING, as on a
// starved machine: the probe dials again (embeddednats.Dial).
func TestRun_Probe(t *testing.T) {
	nodes := startLine(t)
	natsURL := nodes[0].NATS().ClientURL()
	tests := []struct {
		name    string
		via     ProbeVia
		natsURL func(t *testing.T) string
	}{
		{"whatsat", ProbeWhatsat, func(*testing.T) string { return natsURL }},
		{"nats", ProbeNATS, func(*testing.T) string { return natsURL }},
		{"nats, first handshake pinged", ProbeNATS, func(t *testing.T) string {
			return natsproxy.Start(t, strings.TrimPrefix(natsURL, "nats://"), natsproxy.Pinged, 1).URL()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(nodes)
			cfg.Mode, cfg.ProbeVia, cfg.Probes = ModeProbe, tt.via, 20
			cfg.NATSURL = tt.natsURL(t)
			cfg.Rate = 500 // a light background load
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := res.Convergence
			if c == nil || c.Count != 20 || c.P50 <= 0 || res.ProbeTimeouts != 0 {
				t.Fatalf("convergence %+v, timeouts %d", c, res.ProbeTimeouts)
			}
			if res.IAMAT == 0 {
				t.Error("no background load ran")
			}
		})
	}
}

// TestRun_VerifyDetectsMissing points the load at a node that is not part
// of the herd: its records never reach the others, nor theirs it.
func TestRun_VerifyDetectsMissing(t *testing.T) {
	nodes := startLine(t)
	cfg := node.DefaultConfig()
	cfg.Name, cfg.Places = "Loner", offline.New()
	loner, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := loner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer loner.Close()
	c := testConfig(append(nodes[:1:1], loner))
	c.Count, c.Settle = 200, 200*time.Millisecond
	res, err := Run(context.Background(), c)
	if !errors.Is(err, ErrVerifyFailed) {
		t.Fatalf("Run: %v, want ErrVerifyFailed", err)
	}
	v := res.Verify
	if v.OK || v.Failed != v.Checks/2 || len(v.Missing) != 2 || v.Example == "" {
		t.Errorf("verify %+v: want each node missing the other's half", v)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no addrs", func(c *Config) { c.Addrs = nil }},
		{"bad mode", func(c *Config) { c.Mode = "flood" }},
		{"no conns", func(c *Config) { c.Conns = 0 }},
		{"no window", func(c *Config) { c.Window = 0 }},
		{"fewer clients than conns", func(c *Config) { c.Clients = 1 }},
		{"neither duration nor count", func(c *Config) { c.Duration, c.Count = 0, 0 }},
		{"negative rate", func(c *Config) { c.Rate = -1 }},
		{"whatsat fraction above 1", func(c *Config) { c.WhatsatFraction = 1.5 }},
		{"bad close", func(c *Config) { c.Close = "slam" }},
		{"probe with one node", func(c *Config) { c.Mode, c.Addrs = ModeProbe, c.Addrs[:1] }},
		{"probe via nats without url", func(c *Config) { c.Mode, c.ProbeVia = ModeProbe, ProbeNATS }},
		{"bad verify", func(c *Config) { c.Verify = "some" }},
		{"empty sample", func(c *Config) { c.VerifySample = 0 }},
	}
	base := DefaultConfig()
	base.Addrs = []string{"127.0.0.1:1", "127.0.0.1:2"}
	if err := base.Validate(); err != nil {
		t.Fatalf("base config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.Addrs = append([]string(nil), base.Addrs...)
			tt.edit(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestHistogram_Quantile(t *testing.T) {
	var h Histogram
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		vals[i] = time.Duration(rand.Int64N(int64(time.Second)))
		h.Record(vals[i])
	}
	var hMerged, other Histogram
	hMerged.Merge(&h)
	hMerged.Merge(&other) // merging an empty one changes nothing
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		got := hMerged.Quantile(q)
		// Exact quantile of the sample.
		sorted := append([]time.Duration(nil), vals...)
		slices.Sort(sorted)
		want := sorted[int(q*float64(len(sorted)))-1]
		if diff := float64(got-want) / float64(want); diff < -0.001 || diff > 1.0/64 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %.3f%%", q, got, want, diff*100)
		}
	}
	if h.Quantile(1) != slices.Max(vals) {
		t.Errorf("Quantile(1) = %v, want the max %v", h.Quantile(1), slices.Max(vals))
	}
}

func TestHistogram_Buckets(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1e6, 1<<40 + 12345, 1<<62 + 1, 1<<63 - 1} {
		i := bucket(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucket(%d) = %d out of range", v, i)
		}
		if up := upper(i); up < v || (i > 0 && upper(i-1) >= v) {
			t.Errorf("value %d in bucket %d whose range ends at %d (previous %d)", v, i, up, upper(i-1))
		}
		if up := upper(i); float64(up-v) > float64(v)/64+1 {
			t.Errorf("bucket of %d ends at %d: wider than 1/64", v, up)
		}
	}
}

// A ladder on the test herd: a saturated run, then paced steps at the
// fractions asked, each with a reply p99 and a convergence p99, and a plot
// that is well-formed SVG with both series.
func TestRunLadder(t *testing.T) {
	nodes := startLine(t)
	base := testConfig(nodes)
	base.Probes, base.ProbeInterval = 20, time.Millisecond
	lc := LadderConfig{Base: base, Saturate: 300 * time.Millisecond, Steps: []float64{0.1, 0.3}}
	var seen int
	res, err := RunLadder(t.Context(), lc, func(LadderStep) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Saturated.Throughput <= 0 || len(res.Steps) != 2 || seen != 2 {
		t.Fatalf("saturated %.0f/s, %d steps, %d reported", res.Saturated.Throughput, len(res.Steps), seen)
	}
	for i, s := range res.Steps {
		if want := lc.Steps[i] * res.Saturated.Throughput; s.Rate != want {
			t.Errorf("step %d: rate %.0f, want %.0f", i, s.Rate, want)
		}
		if s.ReplyP99 <= 0 || s.ConvP99 <= 0 || s.Throughput <= 0 {
			t.Errorf("step %d: reply p99 %v, convergence p99 %v, throughput %v", i, s.ReplyP99, s.ConvP99, s.Throughput)
		}
	}
	svg := LadderSVG(res, "test & ladder")
	dec := xml.NewDecoder(bytes.NewReader(svg))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && strings.Count(a.Value, ",") != 2 {
					t.Errorf("polyline with points %q, want one per step", a.Value)
				}
			}
		}
	}
	if polylines != 2 {
		t.Errorf("%d polylines, want reply and convergence", polylines)
	}
	var table strings.Builder
	WriteLadderTable(&table, res)
	if strings.Count(table.String(), "\n| ") != 2+1 { // header row, then a row per step (separator starts "|---")
		t.Errorf("table:\n%s", table.String())
	}
}
