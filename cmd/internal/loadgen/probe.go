package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
)

// probeRun measures flood convergence Probes times, with a pipelined
// background load at Rate meanwhile when Rate > 0.
func (r *runner) probeRun(ctx context.Context, res *Result) error {
	res.ProbeVia = r.cfg.ProbeVia
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var bg sync.WaitGroup
	if r.cfg.Rate > 0 {
		res.Window = r.cfg.Window
		bg.Add(1)
		go func() {
			defer bg.Done()
			r.load(lctx, res, r.pipeline)
		}()
	}
	var (
		h        Histogram
		timeouts int
		err      error
	)
	if r.cfg.ProbeVia == ProbeNATS {
		h, timeouts, err = r.probeNATS(ctx)
	} else {
		h, timeouts, err = r.probeWhatsat(ctx)
	}
	stopLoad()
	bg.Wait()
	res.Convergence = summaryOrNil(&h)
	res.ProbesSent = int(h.Count()) + timeouts
	res.ProbeTimeouts = timeouts
	return err
}

// probeIAMAT is the probe's connection to the first node.
type probeIAMAT struct {
	nc  net.Conn
	br  *bufio.Reader
	clk clock
	buf []byte
}

func (r *runner) dialProbe(ctx context.Context, addr string) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("probe: dial %s: %w", addr, err)
	}
	return nc, bufio.NewReaderSize(nc, 64<<10), nil
}

// send writes probe k's IAMAT and returns the client name and its time.
func (p *probeIAMAT) send(r *runner, k int) (client, tval string, err error) {
	now := time.Now()
	p.buf = append(p.buf[:0], r.cfg.Prefix...)
	p.buf = append(p.buf, "probe-"...)
	p.buf = fmt.Appendf(p.buf, "%d", k)
	client = string(p.buf)
	tval = string(appendTime(nil, p.clk.next(now)))
	line := "IAMAT " + client + " +34.068930-118.445127 " + tval + "\n"
	p.nc.SetDeadline(now.Add(r.cfg.ProbeTimeout))
	if _, err := p.nc.Write([]byte(line)); err != nil {
		return "", "", fmt.Errorf("probe: write IAMAT: %w", err)
	}
	return client, tval, nil
}

func (p *probeIAMAT) reply() error {
	ok, first, err := readReply(p.br, false, nil)
	if err != nil {
		return fmt.Errorf("probe: read IAMAT reply: %w", err)
	}
	if !ok {
		return fmt.Errorf("probe: IAMAT refused: %s", first)
	}
	return nil
}

// probeWhatsat polls WHATSAT on every other node until it answers with
// the probe's record. The figure is an upper bound: it includes one
// WHATSAT round trip (and its Places lookup) after the record arrived,
// and up to ProbePoll more.
func (r *runner) probeWhatsat(ctx context.Context) (Histogram, int, error) {
	var h Histogram
	nc, br, err := r.dialProbe(ctx, r.cfg.Addrs[0])
	if err != nil {
		return h, 0, err
	}
	defer nc.Close()
	origin := &probeIAMAT{nc: nc, br: br}
	type poller struct {
		nc net.Conn
		br *bufio.Reader
	}
	pollers := make([]poller, 0, len(r.cfg.Addrs)-1)
	defer func() {
		for _, p := range pollers {
			p.nc.Close()
		}
	}()
	for _, addr := range r.cfg.Addrs[1:] {
		nc, br, err := r.dialProbe(ctx, addr)
		if err != nil {
			return h, 0, err
		}
		pollers = append(pollers, poller{nc, br})
	}
	timeouts := 0
	found := make([]time.Duration, len(pollers))
	for k := range r.cfg.Probes {
		if ctx.Err() != nil {
			return h, timeouts, ctx.Err()
		}
		start := time.Now()
		client, tval, err := origin.send(r, k)
		if err != nil {
			return h, timeouts, err
		}
		deadline := start.Add(r.cfg.ProbeTimeout)
		var wg sync.WaitGroup
		for i, p := range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				found[i] = -1
				cmd := []byte("WHATSAT " + client + " 1 1\n")
				var scratch []byte
				p.nc.SetDeadline(deadline)
				for time.Now().Before(deadline) {
					if _, err := p.nc.Write(cmd); err != nil {
						return
					}
					ok, first, err := readReply(p.br, true, scratch)
					if err != nil {
						return
					}
					if ok {
						scratch = first[:0]
						if string(lastField(first)) == tval {
							found[i] = time.Since(start)
							return
						}
					}
					// Each poll costs the node a Places lookup: pause so
					// the probe does not load the herd it measures.
					if r.cfg.ProbePoll > 0 {
						time.Sleep(r.cfg.ProbePoll)
					}
				}
			}()
		}
		rerr := origin.reply()
		wg.Wait()
		if rerr != nil {
			return h, timeouts, rerr
		}
		worst := time.Duration(0)
		for _, f := range found {
			if f < 0 {
				worst = -1
				break
			}
			worst = max(worst, f)
		}
		if worst < 0 {
			// A poller's connection may be mid-reply: start afresh.
			timeouts++
			return h, timeouts, fmt.Errorf("probe %d: a node did not get the record within %s", k, r.cfg.ProbeTimeout)
		}
		h.Record(worst)
		if !sleepCtx(ctx, r.cfg.ProbeInterval) {
			return h, timeouts, ctx.Err()
		}
	}
	return h, timeouts, nil
}

// probeState is the probe in flight, as the NATS handler sees it.
type probeState struct {
	client string
	start  time.Time
	need   int
	mu     sync.Mutex // guards seen and worst; the handler and the prober share them
	seen   map[string]bool
	worst  time.Duration
	done   chan struct{} // closed when every other node got the record
}

// probeNATS watches herd.at.> and takes the moment the last other node
// was sent the probe's record: the observer's server relays each flood
// message to it as it routes it to the receiving node.
func (r *runner) probeNATS(ctx context.Context) (Histogram, int, error) {
	var h Histogram
	nc, br, err := r.dialProbe(ctx, r.cfg.Addrs[0])
	if err != nil {
		return h, 0, err
	}
	defer nc.Close()
	origin := &probeIAMAT{nc: nc, br: br}
	// The watch stays on NATSURL's server: the figure depends on where it
	// is taken (from another node a relay is one route hop later), so a
	// handshake that server interrupts is dialled again there rather
	// than on a server its INFO lists.
	obs, err := embeddednats.Dial(r.cfg.NATSURL, r.cfg.DialTimeout, nats.Name("herd bench probe"), nats.IgnoreDiscoveredServers())
	if err != nil {
		return h, 0, fmt.Errorf("probe: connect to nats %s: %w", r.cfg.NATSURL, err)
	}
	defer obs.Close()
	var (
		mu  sync.Mutex // guards cur
		cur *probeState
	)
	sub, err := obs.Subscribe("herd.at.>", func(m *nats.Msg) {
		at := time.Now()
		to := strings.TrimPrefix(m.Subject, "herd.at.")
		mu.Lock()
		p := cur
		mu.Unlock()
		if p == nil || !carries(m.Data, p.client) {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.seen[to] {
			return
		}
		p.seen[to] = true
		p.worst = max(p.worst, at.Sub(p.start))
		if len(p.seen) == p.need {
			close(p.done)
		}
	})
	if err != nil {
		return h, 0, fmt.Errorf("probe: subscribe: %w", err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := obs.FlushTimeout(r.cfg.ProbeTimeout); err != nil {
		return h, 0, fmt.Errorf("probe: flush subscription: %w", err)
	}
	timeouts := 0
	for k := range r.cfg.Probes {
		if ctx.Err() != nil {
			return h, timeouts, ctx.Err()
		}
		p := &probeState{need: len(r.cfg.Addrs) - 1, seen: map[string]bool{}, done: make(chan struct{})}
		p.start = time.Now()
		// The name is known before the send; set the probe first so the
		// handler cannot miss an early message.
		p.client = r.cfg.Prefix + fmt.Sprintf("probe-%d", k)
		mu.Lock()
		cur = p
		mu.Unlock()
		if _, _, err := origin.send(r, k); err != nil {
			return h, timeouts, err
		}
		if err := origin.reply(); err != nil {
			return h, timeouts, err
		}
		select {
		case <-p.done:
			p.mu.Lock()
			h.Record(p.worst)
			p.mu.Unlock()
		case <-time.After(time.Until(p.start.Add(r.cfg.ProbeTimeout))):
			timeouts++
		case <-ctx.Done():
			return h, timeouts, ctx.Err()
		}
		if !sleepCtx(ctx, r.cfg.ProbeInterval) {
			return h, timeouts, ctx.Err()
		}
	}
	return h, timeouts, nil
}

// carries reports whether a flood payload holds a record of client.
func carries(data []byte, client string) bool {
	for line := range bytes.Lines(data) {
		f := bytes.Fields(line)
		if len(f) == 6 && string(f[3]) == client {
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
