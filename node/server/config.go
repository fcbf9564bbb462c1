// Package server is the client protocol's TCP door: it accepts
// connections, frames lines, enforces limits (line length, idle and write
// timeouts, connections, outstanding replies), hands each line to the
// node's command core (node/core) and writes the replies in order with one
// flush per batch. IAMAT and WHATSAT themselves are the core's.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors of Validate and Start, in one block.
var (
	ErrInvalidConfig = errors.New("invalid config")
	ErrClosed        = errors.New("server closed")
)

// Config of one client protocol server.
type Config struct {
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

	// Logger: nil discards. At debug level it records every client input
	// and output, and connections opened and closed.
	Logger *slog.Logger
	// Observe is told of every connection (metrics); nil: nobody.
	Observe Observer
}

// DefaultConfig returns the protocol's default limits.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:0",
		MaxLineBytes:   4096,
		IdleTimeout:    5 * time.Minute,
		WriteTimeout:   10 * time.Second,
		MaxConns:       10000,
		MaxOutstanding: 1024,
	}
}

// Bounds of Config. Limits that size buffers are capped, so that no
// configuration can make a node allocate without bound.
const (
	// MinLineBytes is the smallest line limit that still fits any valid
	// command.
	MinLineBytes = 64
	// MaxLineBytesCap is the largest line limit (a connection's read
	// buffer is this large).
	MaxLineBytesCap = 1 << 20
	// MaxOutstandingCap is the largest MaxOutstanding.
	MaxOutstandingCap = 1 << 20
)

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: Addr is empty", ErrInvalidConfig)
	case c.MaxLineBytes < MinLineBytes || c.MaxLineBytes > MaxLineBytesCap:
		return fmt.Errorf("%w: MaxLineBytes %d is not in %d..%d", ErrInvalidConfig, c.MaxLineBytes, MinLineBytes, MaxLineBytesCap)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("%w: IdleTimeout must be positive", ErrInvalidConfig)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("%w: WriteTimeout must be positive", ErrInvalidConfig)
	case c.MaxConns < 1:
		return fmt.Errorf("%w: MaxConns must be at least 1", ErrInvalidConfig)
	case c.MaxOutstanding < 1 || c.MaxOutstanding > MaxOutstandingCap:
		return fmt.Errorf("%w: MaxOutstanding %d is not in 1..%d", ErrInvalidConfig, c.MaxOutstanding, MaxOutstandingCap)
	}
	return nil
}

// Observer is told of every client connection (metrics). Commands are
// counted by the core's observer.
type Observer interface {
	// Connection counts a client connection opened (open) or closed.
	Connection(open bool)
}

type nopObserver struct{}

func (nopObserver) Connection(bool) {}

var _ Observer = nopObserver{}
