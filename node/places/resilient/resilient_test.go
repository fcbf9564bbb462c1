package resilient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/google"
	"github.com/herdhq/herd/node/places/googlefake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "AIzaRESILIENT-test-key"

var ucla = places.Query{Lat: 34.068930, Lng: -118.445127, RadiusM: 10000, Limit: 5}

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig retries without waiting and records each backoff ceiling.
func testConfig(ceilings *[]time.Duration) Config {
	cfg := DefaultConfig()
	var mu sync.Mutex
	cfg.Jitter = func(c time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if ceilings != nil {
			*ceilings = append(*ceilings, c)
		}
		return 0
	}
	cfg.Clock = &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return cfg
}

// stack is a fake upstream, the real provider talking to it, and the
// wrapper under test.
type stack struct {
	fake interface {
		URL() string
		Calls() int
		Hold()
		Release()
		SetScript(...googlefake.Outcome)
	}
	p *Provider
}

func newStack(t *testing.T, legacy bool, opts googlefake.Options, cfg Config) stack {
	t.Helper()
	opts.APIKey = testKey
	gcfg := google.DefaultConfig()
	gcfg.APIKey = testKey
	var s stack
	var up places.Provider
	if legacy {
		f := googlefake.NewLegacy(opts)
		t.Cleanup(f.Close)
		gcfg.BaseURL = f.URL()
		l, err := google.NewLegacy(gcfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		s.fake, up = f, l
	} else {
		f := googlefake.NewPlaces(opts)
		t.Cleanup(f.Close)
		gcfg.BaseURL = f.URL()
		g, err := google.NewPlaces(gcfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		s.fake, up = f, g
	}
	p, err := New(up, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Registered last, so it runs first: the wrapper stops before the fake.
	t.Cleanup(func() { p.Close() })
	s.p = p
	return s
}

func nearby(t *testing.T, p places.Provider, q places.Query) places.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := p.Nearby(ctx, q)
	if err != nil {
		t.Fatalf("Nearby: %v", err)
	}
	return r
}

func TestProvider_Nearby_retry(t *testing.T) {
	const (
		ok   = googlefake.OK
		zero = googlefake.ZeroResults
		oql  = googlefake.OverQueryLimit
		deny = googlefake.RequestDenied
		inv  = googlefake.InvalidRequest
		unk  = googlefake.UnknownError
		u503 = googlefake.Unavailable
	)
	ms := time.Millisecond
	tests := []struct {
		name     string
		legacy   bool
		script   []googlefake.Outcome
		want     string
		calls    int
		ceilings []time.Duration
	}{
		{"429 429 ok", false, []googlefake.Outcome{oql, oql, ok}, places.StatusOK, 3, []time.Duration{100 * ms, 200 * ms}},
		{"500 ok", false, []googlefake.Outcome{unk, ok}, places.StatusOK, 2, []time.Duration{100 * ms}},
		{"503 503 503 gives up", false, []googlefake.Outcome{u503, u503, u503, ok}, places.StatusUnknownError, 3, []time.Duration{100 * ms, 200 * ms}},
		{"429 x3 gives up", false, []googlefake.Outcome{oql, oql, oql}, places.StatusOverQueryLimit, 3, []time.Duration{100 * ms, 200 * ms}},
		{"403 not retried", false, []googlefake.Outcome{deny, ok}, places.StatusRequestDenied, 1, nil},
		{"400 not retried", false, []googlefake.Outcome{inv, ok}, places.StatusInvalidRequest, 1, nil},
		{"empty not retried", false, []googlefake.Outcome{zero, ok}, places.StatusZeroResults, 1, nil},
		{"legacy OVER_QUERY_LIMIT ok", true, []googlefake.Outcome{oql, ok}, places.StatusOK, 2, []time.Duration{100 * ms}},
		{"legacy UNKNOWN_ERROR 503 ok", true, []googlefake.Outcome{unk, u503, ok}, places.StatusOK, 3, []time.Duration{100 * ms, 200 * ms}},
		{"legacy REQUEST_DENIED not retried", true, []googlefake.Outcome{deny, ok}, places.StatusRequestDenied, 1, nil},
		{"legacy INVALID_REQUEST not retried", true, []googlefake.Outcome{inv, ok}, places.StatusInvalidRequest, 1, nil},
		{"legacy ZERO_RESULTS not retried", true, []googlefake.Outcome{zero, ok}, places.StatusZeroResults, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ceilings []time.Duration
			s := newStack(t, tt.legacy, googlefake.Options{Script: tt.script}, testConfig(&ceilings))
			r := nearby(t, s.p, ucla)
			if r.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", r.Status, r.ErrorMessage, tt.want)
			}
			if n := s.fake.Calls(); n != tt.calls {
				t.Errorf("upstream calls = %d, want %d", n, tt.calls)
			}
			st := s.p.Stats()
			if st.Retries != uint64(tt.calls-1) {
				t.Errorf("Stats.Retries = %d, want %d", st.Retries, tt.calls-1)
			}
			if fmt.Sprint(ceilings) != fmt.Sprint(tt.ceilings) {
				t.Errorf("backoff ceilings = %v, want %v", ceilings, tt.ceilings)
			}
			if st.Calls[tt.want] != 1 {
				t.Errorf("Stats.Calls = %v, want one %s", st.Calls, tt.want)
			}
		})
	}
}

func TestConfig_backoff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BaseBackoff, cfg.MaxBackoff = 100*time.Millisecond, 500*time.Millisecond
	want := []time.Duration{100, 200, 400, 500, 500}
	for i, w := range want {
		if got := cfg.backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	for range 1000 {
		if d := fullJitter(10 * time.Millisecond); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("fullJitter(10ms) = %v", d)
		}
	}
}

func TestProvider_Nearby_collapse(t *testing.T) {
	const n = 100
	cfg := testConfig(nil)
	cfg.CacheSize = 0 // collapsing alone must do it
	s := newStack(t, false, googlefake.Options{}, cfg)
	s.fake.Hold()

	results := make(chan places.Response, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			r, err := s.p.Nearby(context.Background(), ucla)
			if err != nil {
				errs <- err
				return
			}
			results <- r
		}()
	}
	// The fake holds the one upstream call, so the search cannot finish;
	// every caller counted in Waiting has registered with it. Only when all
	// n have is the call let through.
	wait.For(t, "one upstream call and all callers waiting on it", func() bool {
		return s.fake.Calls() == 1 && s.p.Stats().Waiting == n
	})
	s.fake.Release()
	for range n {
		select {
		case r := <-results:
			if r.Status != places.StatusOK || len(r.Results) != ucla.Limit {
				t.Fatalf("status %s, %d results", r.Status, len(r.Results))
			}
		case err := <-errs:
			t.Fatalf("Nearby: %v", err)
		}
	}
	if c := s.fake.Calls(); c != 1 {
		t.Errorf("upstream calls = %d, want 1", c)
	}
	st := s.p.Stats()
	if st.Searches != 1 || st.Joined != n || st.Calls[places.StatusOK] != n {
		t.Errorf("stats: searches %d, joined %d, calls %v; want 1, %d, %d OK", st.Searches, st.Joined, st.Calls, n, n)
	}
}

func TestProvider_Nearby_cache(t *testing.T) {
	cfg := testConfig(nil)
	clock := cfg.Clock.(*fakeClock)
	cfg.CacheTTL = 30 * time.Second
	s := newStack(t, false, googlefake.Options{}, cfg)

	first := nearby(t, s.p, ucla)
	clock.Advance(29 * time.Second)
	second := nearby(t, s.p, ucla)
	if c := s.fake.Calls(); c != 1 {
		t.Fatalf("within TTL: upstream calls = %d, want 1", c)
	}
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("cached answer differs:\n%v\n%v", first, second)
	}
	other := ucla
	other.Limit = 6 // a different query is a different entry
	nearby(t, s.p, other)
	if c := s.fake.Calls(); c != 2 {
		t.Fatalf("other query: upstream calls = %d, want 2", c)
	}
	clock.Advance(time.Second) // 30 s after the first: expired
	nearby(t, s.p, ucla)
	if c := s.fake.Calls(); c != 3 {
		t.Fatalf("after TTL: upstream calls = %d, want 3", c)
	}
	st := s.p.Stats()
	if st.CacheHits != 1 || st.CacheMisses != 3 {
		t.Errorf("hits %d, misses %d; want 1, 3", st.CacheHits, st.CacheMisses)
	}
}

func TestProvider_Nearby_cacheOnlySuccess(t *testing.T) {
	tests := []struct {
		outcome googlefake.Outcome
		calls   int // upstream calls after two searches
	}{
		{googlefake.OK, 1},
		{googlefake.ZeroResults, 1},
		{googlefake.RequestDenied, 2},
		{googlefake.InvalidRequest, 2},
		{googlefake.OverQueryLimit, 2},
		{googlefake.UnknownError, 2},
	}
	for _, tt := range tests {
		t.Run(tt.outcome.String(), func(t *testing.T) {
			cfg := testConfig(nil)
			cfg.MaxAttempts = 1
			s := newStack(t, false, googlefake.Options{Script: []googlefake.Outcome{tt.outcome, tt.outcome}}, cfg)
			a, b := nearby(t, s.p, ucla), nearby(t, s.p, ucla)
			if a.Status != b.Status {
				t.Errorf("statuses %s then %s", a.Status, b.Status)
			}
			if c := s.fake.Calls(); c != tt.calls {
				t.Errorf("upstream calls = %d, want %d", c, tt.calls)
			}
		})
	}
}

func TestCache_evictsLeastRecentlyUsed(t *testing.T) {
	clock := &fakeClock{}
	c := newCache(2, time.Minute, clock)
	r := places.Failure(places.StatusOK, "")
	c.put("a", r)
	c.put("b", r)
	c.get("a") // a is now the most recently used
	c.put("c", r)
	for k, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok := c.get(k); ok != want {
			t.Errorf("get(%s) = %v, want %v", k, ok, want)
		}
	}
	if n := c.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
}

func TestProvider_Nearby_timeout(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprint("legacy=", legacy), func(t *testing.T) {
			cfg := testConfig(nil)
			cfg.Timeout = 50 * time.Millisecond
			cfg.MaxAttempts = 2
			s := newStack(t, legacy, googlefake.Options{}, cfg)
			s.fake.Hold() // never released: only the timeout ends an attempt

			done := make(chan places.Response, 1)
			go func() {
				r, _ := s.p.Nearby(context.Background(), ucla)
				done <- r
			}()
			var r places.Response
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Nearby did not return: the per-attempt timeout did not fire")
			}
			if r.Status != places.StatusUnknownError || r.ErrorMessage != "upstream request timed out" {
				t.Errorf("got %s %q, want UNKNOWN_ERROR timed out", r.Status, r.ErrorMessage)
			}
			if strings.Contains(r.ErrorMessage, testKey) {
				t.Errorf("error_message leaks the key")
			}
			if c := s.fake.Calls(); c != 2 {
				t.Errorf("upstream calls = %d, want 2 (timeouts are retried)", c)
			}
		})
	}
}

func TestProvider_Nearby_boundedConcurrency(t *testing.T) {
	const n, limit = 12, 3
	cfg := testConfig(nil)
	cfg.MaxConcurrent = limit
	s := newStack(t, false, googlefake.Options{}, cfg)
	s.fake.Hold()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := ucla
			q.Lat += float64(i) / 1000 // distinct queries: nothing collapses
			if r, err := s.p.Nearby(context.Background(), q); err != nil || r.Status != places.StatusOK {
				t.Errorf("Nearby: %v %s", err, r.Status)
			}
		}()
	}
	wait.For(t, "all callers waiting and the slots taken", func() bool {
		st := s.p.Stats()
		return st.Waiting == n && st.InFlight == limit && s.fake.Calls() == limit
	})
	if st := s.p.Stats(); st.InFlight > limit || s.fake.Calls() > limit {
		t.Fatalf("in flight %d, upstream calls %d; bound is %d", st.InFlight, s.fake.Calls(), limit)
	}
	s.fake.Release()
	wg.Wait()
	if c := s.fake.Calls(); c != n {
		t.Errorf("upstream calls = %d, want %d", c, n)
	}
}

func TestProvider_Nearby_callerContext(t *testing.T) {
	s := newStack(t, false, googlefake.Options{}, testConfig(nil))
	s.fake.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.p.Nearby(ctx, ucla)
		errc <- err
	}()
	wait.For(t, "the upstream call", func() bool { return s.fake.Calls() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The search outlives its caller and fills the cache for the next one.
	s.fake.Release()
	wait.For(t, "the search to finish", func() bool { return s.p.Stats().Cached == 1 })
	if r := nearby(t, s.p, ucla); r.Status != places.StatusOK || s.fake.Calls() != 1 {
		t.Errorf("status %s, upstream calls %d; want OK from cache, 1", r.Status, s.fake.Calls())
	}
	if st := s.p.Stats(); st.Calls[StatusError] != 1 {
		t.Errorf("Stats.Calls = %v, want one %s", st.Calls, StatusError)
	}
}

func TestProvider_Close(t *testing.T) {
	s := newStack(t, false, googlefake.Options{}, testConfig(nil))
	s.fake.Hold()
	errc := make(chan error, 1)
	go func() {
		_, err := s.p.Nearby(context.Background(), ucla)
		errc <- err
	}()
	wait.For(t, "the upstream call", func() bool { return s.fake.Calls() == 1 })
	if err := s.p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("in-flight Nearby: err = %v, want ErrClosed", err)
	}
	if err := s.p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.p.Nearby(context.Background(), ucla); !errors.Is(err, ErrClosed) {
		t.Errorf("Nearby after Close: err = %v, want ErrClosed", err)
	}
}

func TestProvider_Stats(t *testing.T) {
	cfg := testConfig(nil)
	var mu sync.Mutex
	var hooked []string
	cfg.OnUpstream = func(status string, latency time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, status)
		if latency <= 0 {
			t.Errorf("hook latency %v", latency)
		}
	}
	s := newStack(t, false, googlefake.Options{Script: []googlefake.Outcome{googlefake.OverQueryLimit, googlefake.OK}}, cfg)
	nearby(t, s.p, ucla)
	nearby(t, s.p, ucla)
	st := s.p.Stats()
	want := Stats{
		Calls:     map[string]uint64{places.StatusOK: 2},
		Upstream:  map[string]uint64{places.StatusOverQueryLimit: 1, places.StatusOK: 1},
		CacheHits: 1, CacheMisses: 1, Retries: 1, Searches: 1, Joined: 1, Cached: 1,
		UpstreamLatency: st.UpstreamLatency, UpstreamMaxLatency: st.UpstreamMaxLatency,
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("Stats = %+v\nwant    %+v", st, want)
	}
	if st.UpstreamLatency <= 0 || st.UpstreamMaxLatency <= 0 || st.UpstreamMaxLatency > st.UpstreamLatency {
		t.Errorf("latency total %v, max %v", st.UpstreamLatency, st.UpstreamMaxLatency)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(hooked) != "[OVER_QUERY_LIMIT OK]" {
		t.Errorf("OnUpstream saw %v", hooked)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"default", func(*Config) {}, nil},
		{"cache off", func(c *Config) { c.CacheSize, c.CacheTTL = 0, 0 }, nil},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, ErrNotPositive},
		{"zero concurrency", func(c *Config) { c.MaxConcurrent = 0 }, ErrNotPositive},
		{"zero attempts", func(c *Config) { c.MaxAttempts = 0 }, ErrNotPositive},
		{"negative backoff", func(c *Config) { c.BaseBackoff = -1 }, ErrNegative},
		{"max below base", func(c *Config) { c.MaxBackoff = c.BaseBackoff - 1 }, ErrBackoffRange},
		{"negative cache size", func(c *Config) { c.CacheSize = -1 }, ErrNegative},
		{"negative ttl", func(c *Config) { c.CacheTTL = -time.Second }, ErrNegative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			gcfg := google.DefaultConfig()
			gcfg.APIKey = testKey
			up, gerr := google.NewPlaces(gcfg) // no I/O: nothing is called
			if gerr != nil {
				t.Fatal(gerr)
			}
			p, nerr := New(up, c)
			if !errors.Is(nerr, tt.want) || (tt.want == nil) != (nerr == nil) {
				t.Errorf("New: %v, want %v", nerr, tt.want)
			}
			if p != nil {
				p.Close()
			}
		})
	}
}
