// Package resilient wraps any places.Provider with what an upstream over
// the network needs: a per-call timeout, a bound on concurrent upstream
// calls, retries with jittered exponential backoff on transient statuses,
// collapsing of identical concurrent searches into one upstream call, and
// a small short-lived cache of successful answers.
//
// It works on classic statuses only (Response.Status), so it serves every
// provider alike: HTTP 429 and 5xx reach it as OVER_QUERY_LIMIT and
// UNKNOWN_ERROR, which is what it retries.
package resilient

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

var (
	// ErrNotPositive: a field that must be > 0 is not.
	ErrNotPositive = errors.New("must be positive")
	// ErrNegative: a field that must be >= 0 is negative.
	ErrNegative = errors.New("must not be negative")
	// ErrTooLarge: a field is above its cap.
	ErrTooLarge = errors.New("too large")
	// ErrBackoffRange: MaxBackoff is below BaseBackoff.
	ErrBackoffRange = errors.New("max backoff below base backoff")
	// ErrClosed: Nearby was called after Close.
	ErrClosed = errors.New("provider closed")
)

// Clock tells the time the cache expires entries by; tests move it.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config tunes the wrapper.
type Config struct {
	// Timeout bounds each upstream attempt (not the whole call: a call
	// may make MaxAttempts attempts with backoff between them).
	Timeout time.Duration
	// MaxConcurrent bounds upstream calls in flight from this node; further
	// searches wait for a slot.
	MaxConcurrent int
	// MaxAttempts bounds attempts per search, the first included; 1 means
	// no retries.
	MaxAttempts int
	// BaseBackoff is the backoff ceiling before the first retry; it
	// doubles per retry up to MaxBackoff. The wait is drawn by Jitter.
	BaseBackoff time.Duration
	// MaxBackoff caps the backoff ceiling.
	MaxBackoff time.Duration
	// CacheSize is how many answers the cache holds; 0 disables it.
	CacheSize int
	// CacheTTL is how long an answer stays fresh; 0 disables the cache.
	CacheTTL time.Duration

	// Clock drives cache expiry; nil means the system clock.
	Clock Clock `yaml:"-"`
	// Jitter draws the wait before a retry from [0, ceiling]; nil means
	// uniform ("full jitter"). Tests inject a fixed draw.
	Jitter func(ceiling time.Duration) time.Duration `yaml:"-"`
	// OnUpstream, if set, is called after every upstream attempt with its
	// classic status and latency (for a latency histogram). It must not
	// block.
	OnUpstream func(status string, latency time.Duration) `yaml:"-"`
}

// DefaultConfig suits Google's Places APIs from one node: their latency
// is well under a second, and their default quotas are some hundreds of
// searches a minute. The herd file's places section defaults to it.
func DefaultConfig() Config {
	return Config{
		Timeout:       5 * time.Second,
		MaxConcurrent: 64,
		MaxAttempts:   3,
		BaseBackoff:   100 * time.Millisecond,
		MaxBackoff:    2 * time.Second,
		CacheSize:     10000,
		CacheTTL:      30 * time.Second,
	}
}

// MaxConcurrentCap is the largest MaxConcurrent: it sizes a semaphore, so
// no configuration may make it unbounded.
const MaxConcurrentCap = 1 << 20

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("Timeout %v: %w", c.Timeout, ErrNotPositive)
	case c.MaxConcurrent <= 0:
		return fmt.Errorf("MaxConcurrent %d: %w", c.MaxConcurrent, ErrNotPositive)
	case c.MaxConcurrent > MaxConcurrentCap:
		return fmt.Errorf("MaxConcurrent %d above %d: %w", c.MaxConcurrent, MaxConcurrentCap, ErrTooLarge)
	case c.MaxAttempts <= 0:
		return fmt.Errorf("MaxAttempts %d: %w", c.MaxAttempts, ErrNotPositive)
	case c.BaseBackoff < 0:
		return fmt.Errorf("BaseBackoff %v: %w", c.BaseBackoff, ErrNegative)
	case c.MaxBackoff < c.BaseBackoff:
		return fmt.Errorf("MaxBackoff %v < BaseBackoff %v: %w", c.MaxBackoff, c.BaseBackoff, ErrBackoffRange)
	case c.CacheSize < 0:
		return fmt.Errorf("CacheSize %d: %w", c.CacheSize, ErrNegative)
	case c.CacheTTL < 0:
		return fmt.Errorf("CacheTTL %v: %w", c.CacheTTL, ErrNegative)
	}
	return nil
}

// fullJitter draws uniformly from [0, ceiling].
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// backoff is the ceiling before retry number n (1-based).
func (c Config) backoff(n int) time.Duration {
	d := c.BaseBackoff
	for i := 1; i < n && d < c.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.MaxBackoff)
}
