package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one run measured. Times are in milliseconds, rates per
// second.
type Result struct {
	Mode    Mode     `json:"mode"`
	Addrs   []string `json:"addrs"`
	Conns   int      `json:"conns"`
	Window  int      `json:"window,omitempty"`
	Clients int      `json:"clients"`
	Rate    float64  `json:"rate_limit,omitempty"`
	Close   string   `json:"close,omitempty"`

	Seconds    float64          `json:"seconds"`
	Requests   int64            `json:"requests"` // replies received
	IAMAT      int64            `json:"iamat"`
	WHATSAT    int64            `json:"whatsat"`
	Invalid    int64            `json:"invalid"` // "?" replies
	Errors     int64            `json:"errors"`  // dial, I/O and timeout failures
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	Throughput float64          `json:"throughput"`
	// PerSecond is the completed requests of each whole second of the run.
	PerSecond      []int64  `json:"per_second,omitempty"`
	Latency        *Summary `json:"latency,omitempty"` // all commands
	LatencyIAMAT   *Summary `json:"latency_iamat,omitempty"`
	LatencyWHATSAT *Summary `json:"latency_whatsat,omitempty"`

	// Sockets is the machine's TCP socket counts (/proc/net/sockstat,
	// what `ss -s` shows), sampled every second: the largest seen.
	Sockets *SocketStats `json:"sockets,omitempty"`

	Convergence   *Summary `json:"convergence,omitempty"`
	ProbesSent    int      `json:"probes_sent,omitempty"`
	ProbeVia      ProbeVia `json:"probe_via,omitempty"`
	ProbeTimeouts int      `json:"probe_timeouts,omitempty"`

	Verify *VerifyResult `json:"verify,omitempty"`

	// Herd is what the herd's /metrics said (Config.MetricsURLs);
	// HerdError why they could not be read.
	Herd      *HerdStats `json:"herd,omitempty"`
	HerdError string     `json:"herd_error,omitempty"`
	// Balance compares what each node published to each neighbor with
	// what the neighbor received, over the run and the verification.
	Balance *FloodBalance `json:"flood_balance,omitempty"`
}

// SocketStats are the largest TCP socket counts seen during the run.
type SocketStats struct {
	InUseMax    int `json:"inuse_max"`
	TimeWaitMax int `json:"timewait_max"`
	OrphanMax   int `json:"orphan_max"`
}

// Run runs the load cfg describes, then the verification, and returns what
// it measured. The error is ErrVerifyFailed (wrapped) when records are
// missing; other errors mean the run could not be made.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Prefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Prefix = "bench-" + hex.EncodeToString(b[:]) + "-"
	}
	r := newRunner(cfg)
	res := Result{Mode: cfg.Mode, Addrs: cfg.Addrs, Conns: cfg.Conns, Clients: cfg.Clients, Rate: cfg.Rate}
	// The herd's metrics are a bonus: a herd without monitor ports (or
	// an implementation without them) is still measured.
	metricsURLs := cfg.MetricsURLs
	before, err := scrapeAll(ctx, metricsURLs)
	if err != nil {
		res.HerdError, metricsURLs = err.Error(), nil
	}
	switch cfg.Mode {
	case ModePipeline:
		res.Window = cfg.Window
		r.load(ctx, &res, r.pipeline)
	case ModeOneShot:
		res.Close = string(cfg.Close)
		r.load(ctx, &res, r.oneShot)
	case ModeProbe:
		if err := r.probeRun(ctx, &res); err != nil {
			return res, err
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var loadEnd *metricsSnapshot
	if len(metricsURLs) > 0 {
		if after, err := scrapeAll(ctx, metricsURLs); err != nil {
			res.HerdError = err.Error()
		} else {
			res.Herd = herdStats(before, after, len(metricsURLs), res.IAMAT+int64(res.ProbesSent))
			loadEnd = &after
		}
	}
	if cfg.Verify != VerifyNone && cfg.Mode != ModeProbe {
		v := r.verify(ctx)
		res.Verify = &v
	}
	if len(metricsURLs) > 0 {
		if b, err := floodBalance(ctx, metricsURLs, before, loadEnd); err != nil {
			res.HerdError = err.Error()
		} else {
			res.Balance = b
		}
	}
	if v := res.Verify; v != nil {
		if !v.OK {
			return res, fmt.Errorf("%w: %d of %d checks failed", ErrVerifyFailed, v.Failed, v.Checks)
		}
	}
	return res, nil
}

// runner is one run's shared state.
type runner struct {
	cfg   Config
	start time.Time

	// accepted[i] is the client time (Unix ns) of client i's newest IAMAT
	// that got an AT reply, 0 if none. Element i is written only by the
	// connection owning client i and read after all of them ended.
	accepted []int64

	issued    atomic.Int64 // requests started, against Count
	completed atomic.Int64 // replies received, for the per-second series

	mu         sync.Mutex // guards errorKinds
	errorKinds map[string]int64
}

func newRunner(cfg Config) *runner {
	return &runner{cfg: cfg, accepted: make([]int64, cfg.Clients), errorKinds: map[string]int64{}}
}

// reserve takes up to n requests from the Count budget and returns how
// many it got.
func (r *runner) reserve(n int) int {
	if r.cfg.Count <= 0 {
		return n
	}
	after := r.issued.Add(int64(n))
	over := after - int64(r.cfg.Count)
	if over <= 0 {
		return n
	}
	return max(n-int(over), 0)
}

// fail records one error by kind: the step that failed and the cause,
// without the addresses and ports that make every message unique.
func (r *runner) fail(err error) {
	msg := err.Error()
	op, _, _ := strings.Cut(msg, ":")
	cause := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		cause = msg[i+2:]
	}
	kind := op
	if cause != op {
		kind += ": " + cause
	}
	if len(kind) > 100 {
		kind = kind[:100]
	}
	r.mu.Lock()
	r.errorKinds[kind]++
	r.mu.Unlock()
}

// workerStats is one connection's or worker's tally, merged at the end.
type workerStats struct {
	iamat, whatsat   Histogram
	nIAMAT, nWHATSAT int64
	invalid, errors  int64
	last             time.Duration // since start, of the last reply
}

func (w *workerStats) merge(o *workerStats) {
	w.iamat.Merge(&o.iamat)
	w.whatsat.Merge(&o.whatsat)
	w.nIAMAT += o.nIAMAT
	w.nWHATSAT += o.nWHATSAT
	w.invalid += o.invalid
	w.errors += o.errors
	w.last = max(w.last, o.last)
}

// load runs worker for each of Conns until Duration, Count or ctx ends
// it, sampling progress every second, and fills res.
func (r *runner) load(ctx context.Context, res *Result, worker func(ctx context.Context, k int, st *workerStats)) {
	lctx := ctx
	if r.cfg.Duration > 0 && r.cfg.Mode != ModeProbe {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	r.start = time.Now()
	stats := make([]workerStats, r.cfg.Conns)
	var wg sync.WaitGroup
	for k := range r.cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(lctx, k, &stats[k])
		}()
	}
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		r.sample(done, res)
	}()
	wg.Wait()
	close(done)
	sampler.Wait()

	var all workerStats
	for i := range stats {
		all.merge(&stats[i])
	}
	res.Seconds = all.last.Seconds()
	res.IAMAT, res.WHATSAT = all.nIAMAT, all.nWHATSAT
	res.Requests = all.nIAMAT + all.nWHATSAT
	res.Invalid, res.Errors = all.invalid, all.errors
	if res.Seconds > 0 {
		res.Throughput = float64(res.Requests) / res.Seconds
	}
	var both Histogram
	both.Merge(&all.iamat)
	both.Merge(&all.whatsat)
	res.Latency = summaryOrNil(&both)
	res.LatencyIAMAT = summaryOrNil(&all.iamat)
	res.LatencyWHATSAT = summaryOrNil(&all.whatsat)
	r.mu.Lock()
	if len(r.errorKinds) > 0 {
		res.ErrorKinds = r.errorKinds
	}
	r.mu.Unlock()
}

func summaryOrNil(h *Histogram) *Summary {
	if h.Count() == 0 {
		return nil
	}
	s := h.Summary()
	return &s
}

// sample records completed requests per second and the socket counts
// until done is closed.
func (r *runner) sample(done <-chan struct{}, res *Result) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev int64
	sock := func() {
		if s, ok := readSockstat(); ok {
			if res.Sockets == nil {
				res.Sockets = &SocketStats{}
			}
			res.Sockets.InUseMax = max(res.Sockets.InUseMax, s.InUseMax)
			res.Sockets.TimeWaitMax = max(res.Sockets.TimeWaitMax, s.TimeWaitMax)
			res.Sockets.OrphanMax = max(res.Sockets.OrphanMax, s.OrphanMax)
		}
	}
	sock()
	for {
		select {
		case <-done:
			sock()
			return
		case <-t.C:
			n := r.completed.Load()
			res.PerSecond = append(res.PerSecond, n-prev)
			prev = n
			sock()
		}
	}
}

// readSockstat reads the TCP line of /proc/net/sockstat, e.g.
// "TCP: inuse 27 orphan 0 tw 1 alloc 29 mem 3". It is Linux only.
func readSockstat() (SocketStats, bool) {
	data, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return SocketStats{}, false
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		var s SocketStats
		for i := 1; i+1 < len(f); i += 2 {
			v, _ := strconv.Atoi(f[i+1])
			switch f[i] {
			case "inuse":
				s.InUseMax = v
			case "tw":
				s.TimeWaitMax = v
			case "orphan":
				s.OrphanMax = v
			}
		}
		return s, true
	}
	return SocketStats{}, false
}

// clientName appends the name of client i.
func (r *runner) clientName(dst []byte, i int) []byte {
	dst = append(dst, r.cfg.Prefix...)
	return strconv.AppendInt(dst, int64(i), 10)
}

// appendTime appends a client time in Unix nanoseconds as the protocol's
// seconds with nine fractional digits.
func appendTime(dst []byte, ns int64) []byte {
	dst = strconv.AppendInt(dst, ns/1e9, 10)
	dst = append(dst, '.')
	frac := ns % 1e9
	for d := int64(1e8); d > 0; d /= 10 {
		dst = append(dst, byte('0'+frac/d%10))
	}
	return dst
}

// appendLocation appends a location that varies with i over latitudes
// [-60, 60) and longitudes [-180, 180), in ISO 6709 with six decimals.
func appendLocation(dst []byte, i int) []byte {
	lat := int64(i)*7919%120_000_000 - 60_000_000
	lng := int64(i)*104_729%360_000_000 - 180_000_000
	return appendMicroDeg(appendMicroDeg(dst, lat), lng)
}

func appendMicroDeg(dst []byte, v int64) []byte {
	sign := byte('+')
	if v < 0 {
		sign, v = '-', -v
	}
	dst = append(dst, sign)
	dst = strconv.AppendInt(dst, v/1e6, 10)
	dst = append(dst, '.')
	frac := v % 1e6
	for d := int64(1e5); d > 0; d /= 10 {
		dst = append(dst, byte('0'+frac/d%10))
	}
	return dst
}

// clock hands out strictly increasing client times (Unix ns) for one
// connection, so every IAMAT of a client is newer than the one before.
type clock struct{ last int64 }

func (c *clock) next(now time.Time) int64 {
	c.last = max(now.UnixNano(), c.last+1)
	return c.last
}

// lastField returns the text after the last space of line.
func lastField(line []byte) []byte {
	for i := len(line) - 1; i >= 0; i-- {
		if line[i] == ' ' {
			return line[i+1:]
		}
	}
	return line
}
