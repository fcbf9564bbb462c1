package resilient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/herdhq/herd/node/places"
)

// Provider wraps an upstream places.Provider. Safe for concurrent use.
type Provider struct {
	up     places.Provider
	cfg    Config
	jitter func(time.Duration) time.Duration
	cache  *cache
	group  singleflight.Group
	sem    chan struct{} // one token per upstream attempt in flight
	stats  counters

	// life ends upstream work: searches outlive the callers that started
	// them (others may have joined), so they run under this instead of a
	// caller's ctx, and Close cancels it.
	life   context.Context
	cancel context.CancelFunc

	// mu guards closed and orders wg.Add against Close's wg.Wait.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // upstream searches running
}

var _ places.Provider = (*Provider)(nil)

// New wraps up. It does no I/O; Close stops the wrapper (not up).
func New(up places.Provider, cfg Config) (*Provider, error) {
	if up == nil {
		return nil, errors.New("new resilient provider: nil upstream")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("resilient config: %w", err)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = systemClock{}
	}
	jitter := cfg.Jitter
	if jitter == nil {
		jitter = fullJitter
	}
	life, cancel := context.WithCancel(context.Background())
	return &Provider{
		up:     up,
		cfg:    cfg,
		jitter: jitter,
		cache:  newCache(cfg.CacheSize, cfg.CacheTTL, clock),
		sem:    make(chan struct{}, cfg.MaxConcurrent),
		life:   life,
		cancel: cancel,
	}, nil
}

// Stats is a snapshot of the counters.
func (p *Provider) Stats() Stats {
	s := p.stats.snapshot()
	s.Cached = p.cache.len()
	return s
}

// Close cancels upstream searches still running, waits for them, and
// makes later calls fail with ErrClosed. Safe to call twice.
func (p *Provider) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// key identifies a query exactly: the shortest decimal that reads back
// as the same float64.
func key(q places.Query) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return f(q.Lat) + "," + f(q.Lng) + "," + f(q.RadiusM) + "," + strconv.Itoa(q.Limit)
}

// Nearby answers from the cache, or joins an identical search under way,
// or starts one. It waits no longer than ctx; the search itself is bounded
// by MaxAttempts × Timeout plus backoff.
func (p *Provider) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	if err := ctx.Err(); err != nil {
		return p.fail(fmt.Errorf("resilient nearby: %w", err))
	}
	if p.life.Err() != nil {
		return p.fail(ErrClosed)
	}
	k := key(q)
	if p.cache.enabled() {
		if r, ok := p.cache.get(k); ok {
			p.stats.hits.Add(1)
			return p.answer(r), nil
		}
		p.stats.misses.Add(1)
	}
	ch := p.group.DoChan(k, func() (any, error) { return p.search(k, q) })
	// Counted once DoChan has registered this caller with the search, so a
	// test seeing Waiting == n knows n callers share it.
	p.stats.joined.Add(1)
	p.stats.waiting.Add(1)
	defer p.stats.waiting.Add(-1)
	select {
	case res := <-ch:
		if res.Err != nil {
			return p.fail(res.Err)
		}
		return p.answer(res.Val.(places.Response)), nil
	case <-ctx.Done():
		return p.fail(fmt.Errorf("resilient nearby: %w", ctx.Err()))
	}
}

func (p *Provider) fail(err error) (places.Response, error) {
	p.stats.calls[places.StatusIndex(StatusError)].Add(1)
	return places.Response{}, err
}

// answer counts r and copies its slices, so that callers sharing one
// search (or a cached entry) cannot disturb each other by appending or
// reslicing. The result bytes are shared: callers must not write them.
func (p *Provider) answer(r places.Response) places.Response {
	p.stats.calls[places.StatusIndex(r.Status)].Add(1)
	r.Results = slices.Clone(r.Results)
	r.HTMLAttributions = slices.Clone(r.HTMLAttributions)
	if r.Results == nil {
		r.Results = []json.RawMessage{}
	}
	if r.HTMLAttributions == nil {
		r.HTMLAttributions = []string{}
	}
	return r
}

// retryable says whether another attempt may answer differently.
func retryable(status string) bool {
	return status == places.StatusOverQueryLimit || status == places.StatusUnknownError
}

// cacheable says whether an answer is a success worth reusing.
func cacheable(status string) bool {
	return status == places.StatusOK || status == places.StatusZeroResults
}

// search is one upstream search: attempts with backoff between them.
func (p *Provider) search(k string, q places.Query) (places.Response, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return places.Response{}, ErrClosed
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()

	// A search that finished just before this one started has filled the
	// cache; asking upstream again would be a waste.
	if r, ok := p.cache.get(k); ok {
		return r, nil
	}
	p.stats.searches.Add(1)
	for attempt := 1; ; attempt++ {
		r, err := p.attempt(q)
		if err != nil {
			return places.Response{}, err
		}
		if !retryable(r.Status) || attempt >= p.cfg.MaxAttempts {
			if cacheable(r.Status) {
				p.cache.put(k, r)
			}
			return r, nil
		}
		p.stats.retries.Add(1)
		if err := p.sleep(p.jitter(p.cfg.backoff(attempt))); err != nil {
			return places.Response{}, err
		}
	}
}

// attempt makes one upstream call within a concurrency slot and Timeout.
func (p *Provider) attempt(q places.Query) (places.Response, error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.life.Done():
		return places.Response{}, ErrClosed
	}
	defer func() { <-p.sem }()
	p.stats.inFlight.Add(1)
	defer p.stats.inFlight.Add(-1)

	ctx, cancel := context.WithTimeout(p.life, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	r, err := p.up.Nearby(ctx, q)
	latency := time.Since(start)
	if err != nil {
		if p.life.Err() != nil {
			return places.Response{}, ErrClosed
		}
		// A provider may report its deadline as an error rather than a
		// status; either way the client is told UNKNOWN_ERROR.
		msg := "upstream search failed"
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("upstream search timed out after %v", p.cfg.Timeout)
		}
		r = places.Failure(places.StatusUnknownError, msg)
	}
	p.stats.upstream[places.StatusIndex(r.Status)].Add(1)
	p.stats.observe(latency)
	if p.cfg.OnUpstream != nil {
		p.cfg.OnUpstream(r.Status, latency)
	}
	return r, nil
}

// sleep waits d unless the wrapper closes first.
func (p *Provider) sleep(d time.Duration) error {
	if d <= 0 {
		if p.life.Err() != nil {
			return ErrClosed
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.life.Done():
		return ErrClosed
	}
}
