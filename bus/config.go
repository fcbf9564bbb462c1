package bus

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Config of one node's flood.
type Config struct {
	Name      string   // this node
	Neighbors []string // the flood topology: this node's configured neighbors
	// QueueLen bounds records waiting to be published. When it is full,
	// new ones are dropped and counted (anti-entropy repairs what the
	// flood misses); a client reply never waits on the bus.
	QueueLen int
	// MaxPayload bounds one coalesced message's payload in bytes.
	MaxPayload int
	// Linger is the widest window a busy publisher gathers records in
	// before its next round (publishLoop adapts the window between
	// Linger/8 and Linger to the load); 0 publishes every round at once.
	// A record after a quiet spell never waits. It adds up to the window
	// per flood hop while records keep coming, and saves CPU: each round
	// costs a write on the link and on each route, whatever it carries
	// (BENCHMARKS.md, 2026-11-30).
	Linger time.Duration
	// Now is the clock for stamps; time.Now when nil.
	Now func() time.Time
	// Logger: nil discards.
	Logger *slog.Logger
	// Observe is told of every flood event (metrics); nil: nobody.
	Observe Observer
	// Link opens the flood's own in-process connection to the node's
	// NATS server (link.go), over which it receives herd.at.<self>
	// (rx.go) and publishes (tx.go). Required: it is the flood's only
	// connection. Start dials it, and rxLoop again whenever the server
	// closes it.
	Link func() (Link, error)
}

// DefaultConfig returns sizes fit for tens of thousands of records a
// second and a publish window of at most 2 ms. Name and Neighbors must be
// set.
func DefaultConfig() Config {
	return Config{QueueLen: 1 << 16, MaxPayload: 64 << 10, Linger: 2 * time.Millisecond}
}

// Bounds of Config.
const (
	MinMaxPayload = 1024
	MaxLinger     = time.Second
)

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Name):
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	case c.QueueLen < 1:
		return fmt.Errorf("%w: QueueLen must be at least 1", ErrInvalidConfig)
	case c.MaxPayload < MinMaxPayload:
		return fmt.Errorf("%w: MaxPayload must be at least %d", ErrInvalidConfig, MinMaxPayload)
	case c.Linger < 0 || c.Linger > MaxLinger:
		return fmt.Errorf("%w: Linger %s is not in [0, %s]", ErrInvalidConfig, c.Linger, MaxLinger)
	case c.Link == nil:
		return fmt.Errorf("%w: Link is required: the flood's connection to the node's NATS server", ErrInvalidConfig)
	}
	return ValidNeighbors(c.Name, c.Neighbors)
}

// ValidNeighbors checks a neighbor list of node self: NATS tokens, each
// once, not self.
func ValidNeighbors(self string, names []string) error {
	for i, n := range names {
		switch {
		case !record.ValidName(n):
			return fmt.Errorf("%w: Neighbors[%d] %q is not a NATS token", ErrInvalidConfig, i, n)
		case n == self:
			return fmt.Errorf("%w: Neighbors[%d] is the node itself", ErrInvalidConfig, i)
		case slices.Contains(names[:i], n):
			return fmt.Errorf("%w: Neighbors[%d] %q is listed twice", ErrInvalidConfig, i, n)
		}
	}
	return nil
}
