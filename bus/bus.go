// Package bus is the flood of AT records between herd nodes over NATS
// (protocol.md §2): subjects and headers, the publisher that coalesces
// records per neighbor and origin, the relay rules, and the one path by
// which records received from another node enter this one (Ingest), which
// anti-entropy (bus/antientropy) uses as well.
//
// Each node subscribes to herd.at.<self>. The origin of a record publishes
// it to herd.at.<n> for every neighbor n with the headers Herd-Origin and
// Herd-Sender; a node that stores a newer record relays it to its neighbors
// except the origin and the sender, and a record that is not newer goes no
// further. Messages from a node that is not a configured neighbor are
// refused. The bus knows nothing of TCP clients or Places: it writes
// records through the Store interface.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/ratelog"
	"github.com/herdhq/herd/bus/record"
)

// Subjects and headers of the bus protocol (protocol.md §2).
const (
	SubjectPrefix = "herd.at."
	HeaderOrigin  = "Herd-Origin"
	HeaderSender  = "Herd-Sender"
	// HeaderStamp is the origin's clock, in Unix nanoseconds, when it
	// published the oldest record of the message: receivers derive flood
	// latency from it.
	HeaderStamp = "Herd-Stamp"
)

// Errors of Validate, New, Start and Ingest, in one block.
var (
	ErrInvalidConfig = errors.New("invalid bus config")
	ErrClosed        = errors.New("bus closed")
	// ErrNotNeighbor: records from a node that is not a configured
	// neighbor are refused (protocol.md §2).
	ErrNotNeighbor = errors.New("sender is not a neighbor")
)

// Subject is the flood subject a node receives on.
func Subject(node string) string { return SubjectPrefix + node }

// Store is the node's record store as the flood sees it.
type Store interface {
	// PutViews stores each of recs, in order, if it is newer than its
	// client's record, and sets newer[i] (len(newer) >= len(recs)). The
	// records' Lines may alias a message buffer (record.ParseView): the
	// store copies a record only when it keeps it, and then replaces
	// recs[i] by that copy, so a duplicate costs no allocation. A batch
	// lets the store overlap the cache misses of its records.
	PutViews(recs []record.Record, newer []bool)
}

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
	// costs a flush through the node's connection and a write on each
	// route, whatever it carries (BENCHMARKS.md, 2026-11-30).
	Linger time.Duration
	// Now is the clock for stamps; time.Now when nil.
	Now func() time.Time
	// Logger: nil discards.
	Logger *slog.Logger
	// Observe is told of every flood event (metrics); nil: nobody.
	Observe Observer
	// Link opens the flood's own in-process connection to the node's
	// NATS server, over which it receives herd.at.<self> (rx.go); nil:
	// it subscribes through the nats.go connection New was given.
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

// flushTimeout bounds Start's round trip to the server when ctx has no
// deadline of its own.
const flushTimeout = 10 * time.Second

// Bus is one node's end of the flood.
type Bus struct {
	cfg   Config
	conn  *nats.Conn
	store Store
	queue chan outbound
	// refusals logs what other nodes send that the protocol refuses, and
	// the link's failures, at most once a second per kind: a misbehaving
	// peer or a lost link cannot flood the log.
	refusals *ratelog.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the publisher

	mu     sync.Mutex // guards sub, link, closed
	sub    *nats.Subscription
	link   net.Conn // the receiving link's connection (Config.Link)
	closed bool

	pongs atomic.Int64 // PONGs the link answered the server's PINGs with

	batches sync.Pool // *ingestBatch: Ingest's scratch (ingest.go)

	// names interns origins and senders of received messages; only the
	// link's goroutine (rxLoop) uses it.
	names map[string]string

	// Owned by publishLoop (publish.go send): the message it reuses, the
	// stamp's digits, the neighbors' subjects; with a link (tx.go), the
	// round's HPUB frames and their messages' counts.
	out       nats.Msg
	stamp     []byte
	subjects  subjects
	tx        []byte
	txPending []txPending

	// wmu serializes writes on the link: the publisher's rounds, the
	// reader's PONGs.
	wmu sync.Mutex

	// nbrs is the current neighbor list (Config.Neighbors, then whatever
	// SetNeighbors set): read on every publish batch and received
	// message, so it is swapped whole rather than locked.
	nbrs atomic.Pointer[[]string]
}

// outbound is a record to publish to the neighbors but origin and sender.
type outbound struct {
	rec    record.Record
	origin string
	sender string // "" for the origin's own records
	stamp  int64
}

// New validates cfg and returns the flood of a node that talks to its
// NATS server over conn and keeps records in st. It does no I/O.
func New(cfg Config, conn *nats.Conn, st Store) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case conn == nil:
		return nil, fmt.Errorf("%w: nil conn", ErrInvalidConfig)
	case st == nil:
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = nopObserver{}
	}
	nbrs := slices.Clone(cfg.Neighbors)
	cfg.Neighbors = nil // b.nbrs holds them
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg: cfg, conn: conn, store: st, queue: make(chan outbound, cfg.QueueLen),
		refusals: ratelog.New(cfg.Logger, ratelog.DefaultConfig()),
		ctx:      ctx, cancel: cancel, subjects: subjects{}, names: map[string]string{},
	}
	b.nbrs.Store(&nbrs)
	return b, nil
}

// Neighbors returns the current neighbors. The slice is never modified.
func (b *Bus) Neighbors() []string { return *b.nbrs.Load() }

// IsNeighbor reports whether name is a current neighbor.
func (b *Bus) IsNeighbor(name string) bool { return slices.Contains(b.Neighbors(), name) }

// SetNeighbors changes the flood topology of a running bus: records go
// to, and are accepted from, exactly these neighbors from now on.
func (b *Bus) SetNeighbors(names []string) error {
	if err := ValidNeighbors(b.cfg.Name, names); err != nil {
		return err
	}
	names = slices.Clone(names)
	b.nbrs.Store(&names)
	return nil
}

// Start subscribes to this node's flood subject and returns once the
// server has the subscription.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.cfg.Link != nil {
		return b.startLink(ctx)
	}
	sub, err := b.conn.Subscribe(Subject(b.cfg.Name), b.receive)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", Subject(b.cfg.Name), err)
	}
	// Messages are handled one at a time in order; let them queue deeply
	// rather than be dropped as a slow consumer under bursts.
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("set pending limits: %w", err)
	}
	// nats.go needs a deadline to flush; bound it even if ctx has none.
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := b.conn.FlushWithContext(fctx); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("flush subscription: %w", err)
	}
	b.sub = sub
	b.wg.Add(1)
	go b.publishLoop()
	return nil
}

// startLink dials the receiving link (Config.Link) and starts its reader
// and the publisher. b.mu is held.
func (b *Bus) startLink(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	c, err := b.dialLink(fctx)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", Subject(b.cfg.Name), err)
	}
	b.link = c.conn
	b.wg.Add(2)
	go b.rxLoop(c)
	go b.publishLoop()
	return nil
}

// Close unsubscribes and stops publishing. Records still queued are
// dropped. It is safe to call more than once; it does not close the conn.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	sub, link := b.sub, b.link
	b.mu.Unlock()
	b.cancel() // before the link closes: rxLoop must not dial it again
	if link != nil {
		link.Close()
	}
	var err error
	if sub != nil {
		if uerr := sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("unsubscribe: %w", uerr)
		}
	}
	b.wg.Wait()
	return err
}
