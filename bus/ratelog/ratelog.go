// Package ratelog is the herd's one rate-limited logger, for the lines that
// someone outside the node can cause: a client hitting a limit, a peer
// sending what the protocol refuses, an observer whose publish nats-server
// refuses. Without it anyone who can reach a port could write to the
// node's log as fast as the network allows.
//
// Lines are grouped into kinds (by default the message itself). The first
// Burst lines of a kind are logged; after that at most one per Every, which
// carries the number of lines of its kind left out since the last one
// logged ("suppressed"). An optional token bucket bounds all kinds together;
// the next line it lets through carries the number it dropped ("dropped").
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Attribute keys added to a line that follows left-out ones.
const (
	// AttrSuppressed is how many lines of the same kind were left out.
	AttrSuppressed = "suppressed"
	// AttrDropped is how many lines of any kind the token bucket dropped.
	AttrDropped = "dropped"
)

// Config of a Limiter.
type Config struct {
	// Burst lines of each kind are logged before the limit applies.
	Burst int
	// Every is the least time between two lines of one kind after Burst.
	Every time.Duration
	// Kind maps a message to its kind; nil means the message itself.
	Kind func(msg string) string
	// MaxKinds bounds the kinds remembered: when more arrive, all are
	// forgotten (and start a new burst), so memory stays bounded whatever
	// the messages.
	MaxKinds int
	// Rate (lines per second) and Bucket (lines at once) bound the lines
	// of all kinds together. Rate 0 leaves them unbounded.
	Rate   float64
	Bucket int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultConfig logs one line per kind per second.
func DefaultConfig() Config {
	return Config{Burst: 1, Every: time.Second, MaxKinds: 1024}
}

// Limiter logs through a slog.Logger within the limits of its Config. It
// is safe for concurrent use.
type Limiter struct {
	log *slog.Logger
	cfg Config

	mu      sync.Mutex // guards kinds, tokens, last, dropped
	kinds   map[string]*kind
	tokens  float64
	last    time.Time
	dropped int
}

type kind struct {
	n          int       // lines seen
	next       time.Time // when the next line may be logged, after the burst
	suppressed int       // left out since the last one logged
}

// New returns a Limiter logging to l (nil: discard) within cfg.
func New(l *slog.Logger, cfg Config) *Limiter {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Burst = max(cfg.Burst, 1)
	cfg.MaxKinds = max(cfg.MaxKinds, 1)
	return &Limiter{log: l, cfg: cfg, kinds: make(map[string]*kind), tokens: float64(cfg.Bucket), last: cfg.Now()}
}

// Log logs msg at level unless its kind (Config.Kind of msg) is over its
// limit or the bucket is empty.
func (r *Limiter) Log(level slog.Level, msg string, args ...any) {
	k := msg
	if r.cfg.Kind != nil {
		k = r.cfg.Kind(msg)
	}
	r.LogKind(level, k, msg, args...)
}

// LogKind is Log with the kind given.
func (r *Limiter) LogKind(level slog.Level, kind, msg string, args ...any) {
	ctx := context.Background()
	if !r.log.Enabled(ctx, level) {
		return
	}
	ok, suppressed, dropped := r.Allow(kind)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, slog.Int(AttrSuppressed, suppressed))
	}
	if dropped > 0 {
		args = append(args, slog.Int(AttrDropped, dropped))
	}
	r.log.Log(ctx, level, msg, args...)
}

// Allow reports whether a line of kind may be logged now and, if so, how
// many of its kind were left out and how many lines the bucket dropped
// since. Callers that log themselves use it; Log calls it.
func (r *Limiter) Allow(k string) (ok bool, suppressed, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	kd := r.kinds[k]
	if kd == nil {
		if len(r.kinds) >= r.cfg.MaxKinds {
			clear(r.kinds)
		}
		kd = &kind{}
		r.kinds[k] = kd
	}
	kd.n++
	switch {
	case kd.n <= r.cfg.Burst:
	case now.Before(kd.next):
		kd.suppressed++
		return false, 0, 0
	}
	if r.cfg.Rate > 0 {
		r.tokens = min(float64(r.cfg.Bucket), r.tokens+now.Sub(r.last).Seconds()*r.cfg.Rate)
		r.last = now
		if r.tokens < 1 {
			r.dropped++
			return false, 0, 0
		}
		r.tokens--
	}
	kd.next = now.Add(r.cfg.Every)
	suppressed, kd.suppressed = kd.suppressed, 0
	dropped, r.dropped = r.dropped, 0
	return true, suppressed, dropped
}

// Kinds is how many kinds the limiter remembers now.
func (r *Limiter) Kinds() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.kinds)
}
