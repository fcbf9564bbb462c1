// Package server is the classic client protocol over TCP: it accepts
// connections, frames lines, enforces limits, dispatches IAMAT and WHATSAT,
// and writes replies in order with one flush per batch.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/store"
)

// Errors of Validate and Start, in one block.
var (
	ErrInvalidConfig = errors.New("invalid config")
	ErrClosed        = errors.New("server closed")
	// ErrTimeRange: an IAMAT's time is too far (~292 years) from the
	// node's clock to compute its difference.
	ErrTimeRange = errors.New("client time out of range")
	// ErrUnknownClient: a WHATSAT names a client this node has no record of.
	ErrUnknownClient = errors.New("unknown client")
	// ErrBadRecord: a stored record or radius did not parse (cannot happen
	// with records the store accepted; refused rather than crash).
	ErrBadRecord = errors.New("bad stored record")
)

// Clock tells the node's time. Tests fix it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

var _ Clock = SystemClock{}

// Config of one client protocol server.
type Config struct {
	// Name is the node's name, written in the AT lines it originates.
	Name string
	// Addr is the TCP listen address, e.g. "127.0.0.1:12001" or ":0".
	Addr string

	// MaxLineBytes bounds one line without its line ending.
	MaxLineBytes int
	// IdleTimeout closes a connection that sends nothing for this long.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose replies cannot be written for
	// this long (a client that stopped reading).
	WriteTimeout time.Duration
	// MaxConns bounds open client connections; more are closed at accept.
	MaxConns int
	// MaxOutstanding bounds, per connection, reply batches and WHATSATs
	// not yet written; past it the server stops reading that connection.
	MaxOutstanding int

	Store  *store.Store
	Places places.Provider
	Clock  Clock
	Logger *slog.Logger
	// Stored is called with each record an IAMAT made newer, after its
	// reply is queued (see Server.Flood). It must not block for long (the
	// bus only enqueues it). Optional.
	Stored func(record.Record)
	// Observe, if set, is told of every command and connection (metrics).
	Observe Observer
}

// DefaultConfig returns the protocol's default limits. Name, Store and
// Places must still be set.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:0",
		MaxLineBytes:   4096,
		IdleTimeout:    5 * time.Minute,
		WriteTimeout:   10 * time.Second,
		MaxConns:       10000,
		MaxOutstanding: 1024,
		Clock:          SystemClock{},
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// MinLineBytes is the smallest line limit that still fits any valid command.
const MinLineBytes = 64

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Name):
		return fmt.Errorf("%w: Name %q is not a NATS token (letters, digits, _ and -)", ErrInvalidConfig, c.Name)
	case c.Addr == "":
		return fmt.Errorf("%w: Addr is empty", ErrInvalidConfig)
	case c.MaxLineBytes < MinLineBytes:
		return fmt.Errorf("%w: MaxLineBytes %d is below %d", ErrInvalidConfig, c.MaxLineBytes, MinLineBytes)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("%w: IdleTimeout must be positive", ErrInvalidConfig)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("%w: WriteTimeout must be positive", ErrInvalidConfig)
	case c.MaxConns < 1:
		return fmt.Errorf("%w: MaxConns must be at least 1", ErrInvalidConfig)
	case c.MaxOutstanding < 1:
		return fmt.Errorf("%w: MaxOutstanding must be at least 1", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is nil", ErrInvalidConfig)
	case c.Places == nil:
		return fmt.Errorf("%w: Places is nil", ErrInvalidConfig)
	case c.Clock == nil:
		return fmt.Errorf("%w: Clock is nil", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is nil", ErrInvalidConfig)
	}
	return nil
}
