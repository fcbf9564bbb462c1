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
//
// The flood talks to the node's NATS server over its own in-process
// connection, the link (Config.Link), speaking the NATS protocol itself:
// it subscribes and receives on it (link.go, rx.go) and publishes on it
// (tx.go).
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

// Errors of Validate, New, Start, the link and Ingest, in one block.
var (
	ErrInvalidConfig = errors.New("invalid bus config")
	ErrClosed        = errors.New("bus closed")
	// ErrNotNeighbor: records from a node that is not a configured
	// neighbor are refused (protocol.md §2).
	ErrNotNeighbor = errors.New("sender is not a neighbor")
	ErrLinkRefused = errors.New("nats server refused the flood link")
	ErrLinkProto   = errors.New("flood link protocol error")
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

// linkTimeout bounds Start's dial and handshake of the link when ctx has
// no deadline of its own.
const linkTimeout = 10 * time.Second

// Bus is one node's end of the flood.
type Bus struct {
	cfg   Config
	store Store
	queue chan outbound
	// refusals logs what other nodes send that the protocol refuses, and
	// the link's failures, at most once a second per kind: a misbehaving
	// peer or a lost link cannot flood the log.
	refusals *ratelog.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the link's reader (rxLoop) and the publisher

	mu     sync.Mutex // guards link, closed
	link   net.Conn   // the link's current connection
	closed bool

	pongs atomic.Int64 // PONGs the link answered the server's PINGs with

	batches sync.Pool // *ingestBatch: Ingest's scratch (ingest.go)

	// names interns origins and senders of received messages; only the
	// link's goroutine (rxLoop) uses it.
	names map[string]string

	// Owned by publishLoop (publish.go, tx.go): the stamp's digits, the
	// neighbors' subjects, the round's HPUB frames and their messages'
	// counts.
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

// New validates cfg and returns the flood of a node that keeps records in
// st. It does no I/O: Start dials the link.
func New(cfg Config, st Store) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
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
		cfg: cfg, store: st, queue: make(chan outbound, cfg.QueueLen),
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

// Start dials the link, subscribes to this node's flood subject, and
// returns once the server has the subscription; then the link's reader
// and the publisher run until Close.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	dctx, cancel := context.WithTimeout(ctx, linkTimeout)
	defer cancel()
	c, err := b.dialLink(dctx)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", Subject(b.cfg.Name), err)
	}
	b.link = c.conn
	b.wg.Add(2)
	go b.rxLoop(c)
	go b.publishLoop()
	return nil
}

// Close closes the link and stops publishing, and returns once both
// goroutines have. Records still queued are dropped. It is safe to call
// more than once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	link := b.link
	b.mu.Unlock()
	b.cancel() // before the link closes: rxLoop must not dial it again
	if link != nil {
		link.Close()
	}
	b.wg.Wait()
	return nil
}
