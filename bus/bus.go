// Package bus floods AT records between herd nodes over NATS.
//
// Each node subscribes to herd.at.<self>. The origin of a record publishes
// it to herd.at.<n> for every neighbor n with the headers Herd-Origin and
// Herd-Sender; a node that stores a newer record relays it to its neighbors
// except the origin and the sender, and a record that is not newer goes no
// further. The bus knows nothing of TCP clients or Places: it reads and
// writes records through the Store interface.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/digest"
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

// Errors of Validate and Start, in one block.
var (
	ErrInvalidConfig = errors.New("invalid bus config")
	ErrClosed        = errors.New("bus closed")
)

// Subject is the flood subject a node receives on.
func Subject(node string) string { return SubjectPrefix + node }

// Store is the node's record store as the bus sees it.
type Store interface {
	// Put stores r if it is newer than the client's record and reports
	// whether it did.
	Put(r record.Record) bool
	// GroupSums returns the anti-entropy digest of every group (package
	// digest: the XOR of digest.Hash over the group's records).
	GroupSums() [digest.Groups]uint64
	// BucketSums returns the digests of group g's buckets.
	BucketSums(g int) [digest.GroupSize]uint64
	// AppendBucket appends the records of bucket b to dst.
	AppendBucket(dst []record.Record, b int) []record.Record
}

// ViewStore is a Store that also takes records whose Line aliases a
// message buffer (record.ParseView) and copies one only when it stores
// it, so a duplicate record costs no allocation. The bus uses PutView when
// its Store has it; node/store.Store does.
type ViewStore interface {
	Store
	PutView(r record.Record) (stored record.Record, newer bool)
}

// Config of one node's bus.
type Config struct {
	Name      string   // this node
	Neighbors []string // the flood topology: this node's configured neighbors
	Conn      *nats.Conn
	Store     Store
	Logger    *slog.Logger
	// QueueLen bounds records waiting to be published. When it is full,
	// new ones are dropped and counted (anti-entropy repairs what the
	// flood misses); a client reply never waits on the bus.
	QueueLen int
	// MaxPayload bounds one coalesced message's payload in bytes.
	MaxPayload int
	// Linger is how long a busy publisher gathers records before its next
	// round (see publishLoop); 0, the default, publishes every round at
	// once. It adds up to Linger per flood hop while records keep coming,
	// and saves CPU: on the default herd at 40,000 IAMAT/s, 1ms cut CPU
	// per IAMAT by a fifth but doubled convergence p50 (BENCHMARKS.md).
	Linger time.Duration
	// Now is the clock for stamps; time.Now when nil.
	Now func() time.Time
	// Observe, when set, is told of every flood event (for metrics), and
	// of anti-entropy events if it implements SyncObserver.
	Observe Observer

	// SyncInterval is the mean time between anti-entropy exchanges with
	// each neighbor; 0 turns periodic exchanges off (they still run at
	// start and on NeighborUp).
	SyncInterval time.Duration
	// SyncJitter spreads periodic exchanges by ± this fraction of
	// SyncInterval, so that nodes started together do not sync in step.
	SyncJitter float64
	// SyncTimeout bounds the wait for each reply of an exchange.
	SyncTimeout time.Duration
}

// Observer is told of flood events. Methods must be quick and safe for
// concurrent use.
type Observer interface {
	// Published counts one message sent to a neighbor carrying n records.
	Published(to string, n int)
	// Received counts one record received: stored (newer), or stale.
	Received(from string, newer bool)
	// Latency is the time from the origin's stamp to this node storing it.
	Latency(d time.Duration)
	// Dropped counts records not published: queue full or publish error.
	Dropped(n int, reason string)
	// Invalid counts a message or line that broke the bus protocol.
	Invalid(from string)
}

// DefaultConfig returns sizes fit for tens of thousands of records a
// second. Name, Neighbors, Conn and Store must be set.
func DefaultConfig() Config {
	return Config{
		QueueLen:     1 << 16,
		MaxPayload:   64 << 10,
		Logger:       slog.New(slog.DiscardHandler),
		SyncInterval: 5 * time.Second,
		SyncJitter:   0.2,
		SyncTimeout:  2 * time.Second,
	}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Name):
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	case c.Conn == nil:
		return fmt.Errorf("%w: Conn is nil", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is nil", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is nil", ErrInvalidConfig)
	case c.QueueLen < 1:
		return fmt.Errorf("%w: QueueLen must be at least 1", ErrInvalidConfig)
	case c.MaxPayload < 1024:
		return fmt.Errorf("%w: MaxPayload must be at least 1024", ErrInvalidConfig)
	case c.SyncInterval < 0:
		return fmt.Errorf("%w: SyncInterval must not be negative", ErrInvalidConfig)
	case !(c.SyncJitter >= 0 && c.SyncJitter < 1):
		return fmt.Errorf("%w: SyncJitter must be in [0, 1)", ErrInvalidConfig)
	case c.SyncTimeout <= 0:
		return fmt.Errorf("%w: SyncTimeout must be positive", ErrInvalidConfig)
	case c.Linger < 0 || c.Linger > time.Second:
		return fmt.Errorf("%w: Linger %s is not in [0, 1s]", ErrInvalidConfig, c.Linger)
	}
	for i, n := range c.Neighbors {
		switch {
		case !record.ValidName(n):
			return fmt.Errorf("%w: Neighbors[%d] %q is not a NATS token", ErrInvalidConfig, i, n)
		case n == c.Name:
			return fmt.Errorf("%w: Neighbors[%d] is the node itself", ErrInvalidConfig, i)
		case slices.Contains(c.Neighbors[:i], n):
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
	queue chan outbound

	syncObs SyncObserver
	warnLog rateLog // rate-limits warnings a peer's requests can cause

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the publisher and sync goroutines

	mu      sync.Mutex // guards sub, syncSub, closed
	sub     *nats.Subscription
	syncSub *nats.Subscription
	closed  bool

	kick   chan struct{}   // wakes the sync loop after NeighborUp
	kickMu sync.Mutex      // guards kicked
	kicked map[string]bool // neighbors to sync with now

	// nbrs is the current neighbor list (Config.Neighbors, then whatever
	// SetNeighbors set): read on every publish batch and sync request, so
	// it is swapped whole rather than locked.
	nbrs atomic.Pointer[[]string]
}

// neighbors returns the current neighbors. The slice is never modified.
func (b *Bus) neighbors() []string { return *b.nbrs.Load() }

// SetNeighbors changes the flood topology of a running bus: records go to,
// and sync requests are accepted from, the new neighbors from now on, and
// the bus syncs with each added neighbor at once (a node added to the herd
// gets every record by anti-entropy).
func (b *Bus) SetNeighbors(names []string) error {
	c := b.cfg
	c.Neighbors = names
	if err := c.Validate(); err != nil {
		return err
	}
	old := b.neighbors()
	names = slices.Clone(names)
	b.nbrs.Store(&names)
	for _, n := range names {
		if !slices.Contains(old, n) {
			b.NeighborUp(n)
		}
	}
	return nil
}

// outbound is a record to publish to the neighbors but origin and sender.
type outbound struct {
	rec    record.Record
	origin string
	sender string // "" for the origin's own records
	stamp  int64
}

// New validates cfg. It does no I/O.
func New(cfg Config) (*Bus, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observe == nil {
		cfg.Observe = nopObserver{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nbrs := slices.Clone(cfg.Neighbors)
	cfg.Neighbors = nil // b.nbrs holds them
	ctx, cancel := context.WithCancel(context.Background())
	so, ok := cfg.Observe.(SyncObserver)
	if !ok {
		so = nopObserver{}
	}
	b := &Bus{
		cfg: cfg, queue: make(chan outbound, cfg.QueueLen), syncObs: so,
		ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), kicked: make(map[string]bool),
	}
	b.nbrs.Store(&nbrs)
	return b, nil
}

// Start subscribes to this node's flood and sync subjects, returns once the
// server has the subscriptions, and starts syncing with the neighbors.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	sub, err := b.cfg.Conn.Subscribe(Subject(b.cfg.Name), b.receive)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", Subject(b.cfg.Name), err)
	}
	// Messages are handled one at a time in order; let them queue deeply
	// rather than be dropped as a slow consumer under bursts.
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("set pending limits: %w", err)
	}
	syncSub, err := b.cfg.Conn.Subscribe(SyncSubject(b.cfg.Name), b.serveSync)
	if err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("subscribe %s: %w", SyncSubject(b.cfg.Name), err)
	}
	// nats.go needs a deadline to flush; bound it even if ctx has none.
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := b.cfg.Conn.FlushWithContext(fctx); err != nil {
		sub.Unsubscribe()
		syncSub.Unsubscribe()
		return fmt.Errorf("flush subscription: %w", err)
	}
	b.sub, b.syncSub = sub, syncSub
	b.wg.Add(2)
	go b.publishLoop()
	go b.syncLoop()
	return nil
}

// Close unsubscribes and stops publishing. Records still queued are
// dropped. It is safe to call more than once; it does not close Conn.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := []*nats.Subscription{b.sub, b.syncSub}
	b.mu.Unlock()
	var err error
	for _, sub := range subs {
		if sub == nil {
			continue
		}
		if uerr := sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) && err == nil {
			err = fmt.Errorf("unsubscribe: %w", uerr)
		}
	}
	b.cancel()
	b.wg.Wait()
	return err
}

// Publish floods a record this node originated to every neighbor. It never
// blocks: when the queue is full the record is dropped and counted.
func (b *Bus) Publish(r record.Record) {
	b.enqueue(outbound{rec: r, origin: b.cfg.Name, stamp: b.cfg.Now().UnixNano()})
}

func (b *Bus) enqueue(o outbound) {
	select {
	case b.queue <- o:
	default:
		b.cfg.Observe.Dropped(1, "queue full")
	}
}

// receive handles one flood message: each newer record is stored and
// relayed; stale or equal ones stop here.
func (b *Bus) receive(m *nats.Msg) {
	origin := m.Header.Get(HeaderOrigin)
	sender := m.Header.Get(HeaderSender)
	if !record.ValidName(origin) || !record.ValidName(sender) {
		b.cfg.Observe.Invalid(sender)
		b.cfg.Logger.Warn("flood message without valid origin and sender headers",
			"origin", origin, "sender", sender)
		return
	}
	stamp, _ := strconv.ParseInt(m.Header.Get(HeaderStamp), 10, 64)
	now := b.cfg.Now()
	vs, _ := b.cfg.Store.(ViewStore)
	for line := range splitLines(m.Data) {
		// r aliases m.Data until the store copies it (or it is cloned).
		r, err := record.ParseView(line)
		if err != nil || r.Origin() != origin {
			b.cfg.Observe.Invalid(sender)
			b.cfg.Logger.Warn("invalid flood record", "sender", sender, "err", err)
			continue
		}
		var newer bool
		if vs != nil {
			r, newer = vs.PutView(r)
		} else {
			r = r.Clone()
			newer = b.cfg.Store.Put(r)
		}
		b.cfg.Observe.Received(sender, newer)
		if !newer {
			continue
		}
		if stamp > 0 {
			b.cfg.Observe.Latency(now.Sub(time.Unix(0, stamp)))
		}
		if origin != b.cfg.Name {
			b.enqueue(outbound{rec: r, origin: origin, sender: sender, stamp: stamp})
		}
	}
}

// splitLines yields the non-empty LF-separated lines of data.
func splitLines(data []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			i := 0
			for i < len(data) && data[i] != '\n' {
				i++
			}
			line := data[:i]
			if i < len(data) {
				data = data[i+1:]
			} else {
				data = nil
			}
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}

type nopObserver struct{}

func (nopObserver) Published(string, int) {}
func (nopObserver) Received(string, bool) {}
func (nopObserver) Latency(time.Duration) {}
func (nopObserver) Dropped(int, string)   {}
func (nopObserver) Invalid(string)        {}

func (nopObserver) Synced(string, bool, int, error) {}
func (nopObserver) Repaired(string, int)            {}

var (
	_ Observer     = nopObserver{}
	_ SyncObserver = nopObserver{}
)
