// Package antientropy reconciles a node's records with its neighbors', so
// that what the flood (package bus) missed — a node down, a route cut —
// is repaired (protocol.md §2 "Anti-entropy").
//
// A node syncs with each neighbor at start, when the neighbor's route
// comes (back) up (NeighborUp), and every Interval (± Jitter). One
// exchange walks the digest tree (package bus/digest) from the root down
// only where the two stores differ, then swaps the records of the buckets
// that differ: the requester sends its own (the peer stores what is newer:
// push) and the peer answers with its records that are newer (pull). While
// two stores are in sync an exchange is one request and one reply of a few
// dozen bytes, whatever the number of clients. The wire format is in
// wire.go.
//
// Records stored by repair enter the node through the flood's one path,
// bus.Bus.Ingest: the same parsing, neighbor check and refusal logging as
// a flood message, and they are relayed by the flood rules with the peer
// as sender. After a partition heals, the records one side missed then
// reach the far end of the other side in one flood's time instead of one
// sync round per hop, and at most once per node.
package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/ratelog"
	"github.com/herdhq/herd/bus/record"
)

// Errors, in one block.
var (
	ErrInvalidConfig = errors.New("invalid anti-entropy config")
	ErrClosed        = errors.New("anti-entropy closed")
	// ErrSyncRefused: the peer refused an exchange or answered outside
	// the protocol.
	ErrSyncRefused = errors.New("sync refused")
	// ErrCutoff: the two nodes could not agree on a settled cutoff (their
	// clocks are further apart than the exchange tolerates, or one moved
	// its cutoff during the exchange); the next round tries again.
	ErrCutoff = errors.New("no common settled cutoff")
	// ErrInterrupted wraps the error that ended an exchange while it was
	// swapping records: the peer may have stored some of those sent, and
	// this node some of those received (Observer.Repaired counts them).
	ErrInterrupted = errors.New("interrupted while swapping records")
)

// Store is the node's record store as anti-entropy reads it. Records are
// written through Flood.Ingest.
type Store interface {
	// GroupSums returns the digest of every group (package digest: the
	// XOR of digest.Hash over the group's records).
	GroupSums() [digest.Groups]uint64
	// BucketSums returns the digests of group g's buckets.
	BucketSums(g int) [digest.GroupSize]uint64
	// AppendBucket appends the records of bucket b to dst.
	AppendBucket(dst []record.Record, b int) []record.Record

	// Settle moves the settled cutoff (Unix ns) forward, never back;
	// SettleCursor returns it. A record whose origin time
	// (record.OriginNanos) is before the cutoff is settled.
	Settle(cutoff int64)
	SettleCursor() int64
	// SettledGroupSums and SettledBucketSums are the digests over, for
	// each client, the last of its records that settled on this node.
	SettledGroupSums() [digest.Groups]uint64
	SettledBucketSums(g int) [digest.GroupSize]uint64
	// AppendSettled appends the records of bucket b whose origin time is
	// before cutoff.
	AppendSettled(dst []record.Record, b int, cutoff int64) []record.Record
}

// Flood is the node's flood as anti-entropy uses it: who the neighbors
// are now, and the one path that stores received records and relays the
// newer ones.
type Flood interface {
	Neighbors() []string
	IsNeighbor(name string) bool
	Ingest(src bus.Source, sender, origin string, stamp int64, data []byte, seen func(record.Record)) (stored int, err error)
}

var _ Flood = (*bus.Bus)(nil)

// Observer is told of anti-entropy events (metrics). Methods must be
// quick and safe for concurrent use.
type Observer interface {
	// Synced reports one exchange this node started with peer: whether
	// the two were already in sync at the root, or the error that ended
	// it early (nil when it completed; wrapping ErrInterrupted when it
	// ended while swapping records). The records this node stored in it
	// are reported to Repaired first.
	Synced(peer string, inSync bool, err error)
	// Repaired counts n records stored from peer by anti-entropy, pulled
	// by this node's exchange or pushed by the peer's.
	Repaired(peer string, n int)
	// Refused counts a sync request refused (not from a neighbor, or
	// outside the protocol). Records refused inside a request are counted
	// by the flood's observer, through Ingest.
	Refused(from string, why bus.Refusal)
}

// Config of one node's anti-entropy.
type Config struct {
	// Name is this node: it answers on herd.sync.<Name>.
	Name string
	// Interval is the mean time between periodic exchanges with each
	// neighbor; 0 turns periodic exchanges off (they still run at start
	// and on NeighborUp).
	Interval time.Duration
	// Jitter spreads periodic exchanges by ± this fraction of Interval,
	// so that nodes started together do not sync in step.
	Jitter float64
	// Timeout bounds the wait for each reply of an exchange.
	Timeout time.Duration
	// MaxPayload bounds one sync message's payload in bytes (and never
	// more than the server accepts).
	MaxPayload int
	// SettleAge is how old (by origin time) a record must be before
	// periodic exchanges compare it: records younger than that are most
	// likely still travelling by the flood, and comparing them would swap
	// whole buckets that the flood is about to deliver anyway. Exchanges
	// at start and when a neighbor comes back compare every record. 0
	// compares every record always.
	SettleAge time.Duration
	// Now is the clock for the settled cutoff; time.Now when nil.
	Now func() time.Time
	// Logger: nil discards.
	Logger *slog.Logger
	// Observe is told of exchanges and repairs; nil: nobody.
	Observe Observer
}

// DefaultConfig is a round every 5 s ± 20% with 2 s replies, comparing
// records older than 3 s.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Second, Jitter: 0.2, Timeout: 2 * time.Second, MaxPayload: 64 << 10, SettleAge: 3 * time.Second}
}

// MinMaxPayload is the smallest MaxPayload: a bucket list must fit.
const MinMaxPayload = 1024

// MaxSettleAge bounds SettleAge: a record older than that has had every
// chance to arrive by the flood.
const MaxSettleAge = time.Hour

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Name):
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	case c.Interval < 0:
		return fmt.Errorf("%w: Interval must not be negative", ErrInvalidConfig)
	case !(c.Jitter >= 0 && c.Jitter < 1):
		return fmt.Errorf("%w: Jitter must be in [0, 1)", ErrInvalidConfig)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Timeout must be positive", ErrInvalidConfig)
	case c.MaxPayload < MinMaxPayload:
		return fmt.Errorf("%w: MaxPayload must be at least %d", ErrInvalidConfig, MinMaxPayload)
	case c.SettleAge < 0 || c.SettleAge > MaxSettleAge:
		return fmt.Errorf("%w: SettleAge %s is not in [0, %s]", ErrInvalidConfig, c.SettleAge, MaxSettleAge)
	}
	return nil
}

// flushTimeout bounds Start's round trip to the server when ctx has no
// deadline of its own.
const flushTimeout = 10 * time.Second

// AntiEntropy is one node's side of the exchanges: the requester loop
// and the responder on herd.sync.<self>.
type AntiEntropy struct {
	cfg   Config
	conn  *nats.Conn
	store Store
	flood Flood
	// refusals logs refused requests at most once a second per kind.
	refusals *ratelog.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sync loop

	mu     sync.Mutex // guards sub, closed
	sub    *nats.Subscription
	closed bool

	kick   chan struct{}   // wakes the sync loop after NeighborUp
	kickMu sync.Mutex      // guards kicked
	kicked map[string]bool // neighbors to sync with now
}

// New validates cfg. The node talks to its NATS server over conn, reads
// digests from st and stores through fl. It does no I/O.
func New(cfg Config, conn *nats.Conn, st Store, fl Flood) (*AntiEntropy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || st == nil || fl == nil {
		return nil, fmt.Errorf("%w: nil conn, store or flood", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &AntiEntropy{
		cfg: cfg, conn: conn, store: st, flood: fl,
		refusals: ratelog.New(cfg.Logger, ratelog.DefaultConfig()),
		ctx:      ctx, cancel: cancel,
		kick: make(chan struct{}, 1), kicked: make(map[string]bool),
	}, nil
}

// Start subscribes to herd.sync.<self>, returns once the server has the
// subscription, and starts syncing with the neighbors.
func (a *AntiEntropy) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	sub, err := a.conn.Subscribe(Subject(a.cfg.Name), a.serve)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", Subject(a.cfg.Name), err)
	}
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := a.conn.FlushWithContext(fctx); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("flush subscription: %w", err)
	}
	a.sub = sub
	a.wg.Add(1)
	go a.syncLoop()
	return nil
}

// Close unsubscribes and stops syncing. It is safe to call more than
// once; it does not close the conn.
func (a *AntiEntropy) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	sub := a.sub
	a.mu.Unlock()
	var err error
	if sub != nil {
		if uerr := sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("unsubscribe: %w", uerr)
		}
	}
	a.cancel()
	a.wg.Wait()
	return err
}

// refuse counts and logs (rate-limited) a refused request.
func (a *AntiEntropy) refuse(peer string, why bus.Refusal, args ...any) {
	a.cfg.Observe.Refused(peer, why)
	args = append([]any{"sender", peer, "reason", why.String()}, args...)
	a.refusals.LogKind(slog.LevelWarn, why.String(), "refused a sync request", args...)
}

// repaired reports n records stored from peer.
func (a *AntiEntropy) repaired(peer string, n int) {
	if n > 0 {
		a.cfg.Observe.Repaired(peer, n)
		a.cfg.Logger.Info("sync repaired records", "peer", peer, "records", n)
	}
}

type nopObserver struct{}

func (nopObserver) Synced(string, bool, error)  {}
func (nopObserver) Repaired(string, int)        {}
func (nopObserver) Refused(string, bus.Refusal) {}

var _ Observer = nopObserver{}
