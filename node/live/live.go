// Package live is a node's live view of the herd: a web page (served at /
// of the node's monitor address) that draws the herd graph with the live
// state of every NATS route, each node's records and rates, the flood as it
// happens, and recent client locations on a world map.
//
// Every node publishes a small heartbeat on herd.live.beat.<node> (its
// stats and its current route peers) and, while a viewer anywhere in the
// herd is watching, a summary of the flood hops it received on
// herd.live.flood.<node> every tick. The node serving a page subscribes to
// herd.live.> only while at least one browser is connected, aggregates,
// and streams frames to each browser over server-sent events. Nothing here
// ever blocks the flood: the tap on the node's flood subject drops rather
// than queues, summaries are bounded per tick, and each browser has a
// bounded buffer of frames; a browser that falls behind misses frames and
// is disconnected (its EventSource reconnects).
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
)

// Subjects of the live view. They carry only observations, never records.
const (
	SubjectPrefix      = "herd.live."
	BeatSubjectPrefix  = SubjectPrefix + "beat."
	FloodSubjectPrefix = SubjectPrefix + "flood."
	// subscribeAll is what a node serving viewers listens to.
	subscribeAll = SubjectPrefix + ">"
)

// BeatSubject is where node publishes its heartbeat.
func BeatSubject(node string) string { return BeatSubjectPrefix + node }

// FloodSubject is where node publishes its flood summaries.
func FloodSubject(node string) string { return FloodSubjectPrefix + node }

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid live config")
	ErrStarted       = errors.New("live view already started")
)

// NodeStats are a node's cumulative counters. Stats is called once per
// heartbeat; rates are computed here over a sliding second.
type NodeStats struct {
	Records  int64  `json:"records"`  // records held now (not cumulative)
	IAMAT    uint64 `json:"iamat"`    // IAMAT commands answered
	WHATSAT  uint64 `json:"whatsat"`  // WHATSAT commands answered
	FloodIn  uint64 `json:"floodIn"`  // flood records received from neighbors
	FloodOut uint64 `json:"floodOut"` // flood records published to neighbors
	Repairs  uint64 `json:"repairs"`  // records stored by anti-entropy repair
}

// Routes is the node's embedded NATS server as the live view sees it.
type Routes interface {
	// Peers are the names of the servers connected by route now.
	Peers() []string
	// HasInterest reports whether a publish on subject here would reach
	// a subscriber anywhere in the cluster.
	HasInterest(subject string) bool
}

var _ Routes = (*embeddednats.Server)(nil)

// Config of one node's live view.
type Config struct {
	// Name is this node.
	Name string
	// Nodes and Edges are the herd's configured topology: every node and
	// every neighbor edge (each once, in either order).
	Nodes []string
	Edges [][2]string
	// Regions maps every node to its region in a herd of several regions
	// (regions.go); nil: one region.
	Regions map[string]string
	// Stats reads the node's counters; it must be quick and safe for
	// concurrent use. Nil means no stats (zeros).
	Stats func() NodeStats
	// Gateways lists the regions this node's gateways deliver to now; it
	// must be quick and safe for concurrent use. Nil: none.
	Gateways func() []string
	// Cuts lists the peers whose routes this node's chaos gate cuts (herd
	// chaos), for the heartbeat; quick and safe for concurrent use. Nil
	// means none.
	Cuts func() []string
	// Beat is the heartbeat interval.
	Beat time.Duration
	// DownAfter is how long a node may stay silent before it is drawn
	// down.
	DownAfter time.Duration
	// Tick is how often hops are aggregated and frames sent to browsers.
	Tick time.Duration
	// ViewerBuffer bounds the frames queued for one browser; a browser
	// that lets it fill up is disconnected.
	ViewerBuffer int
	// MaxViewers bounds concurrent browsers of this node.
	MaxViewers int
	// Samples bounds the client locations one node reports per tick.
	Samples int
	// TapPending bounds flood messages queued for the tap; beyond it the
	// tap drops them (the flood itself is never affected).
	TapPending int
	// Logger: nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a view that notices a silent node within a
// second. Name, Nodes and Edges must be set.
func DefaultConfig() Config {
	return Config{
		Beat:         250 * time.Millisecond,
		DownAfter:    time.Second,
		Tick:         100 * time.Millisecond,
		ViewerBuffer: 32,
		MaxViewers:   64,
		Samples:      32,
		TapPending:   4096,
	}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Name):
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	case !slices.Contains(c.Nodes, c.Name):
		return fmt.Errorf("%w: Nodes does not list Name %q", ErrInvalidConfig, c.Name)
	case c.Beat <= 0:
		return fmt.Errorf("%w: Beat must be positive", ErrInvalidConfig)
	case c.DownAfter <= c.Beat:
		return fmt.Errorf("%w: DownAfter must exceed Beat", ErrInvalidConfig)
	case c.Tick <= 0:
		return fmt.Errorf("%w: Tick must be positive", ErrInvalidConfig)
	case c.ViewerBuffer < 1:
		return fmt.Errorf("%w: ViewerBuffer must be at least 1", ErrInvalidConfig)
	case c.MaxViewers < 1:
		return fmt.Errorf("%w: MaxViewers must be at least 1", ErrInvalidConfig)
	case c.Samples < 0:
		return fmt.Errorf("%w: Samples must not be negative", ErrInvalidConfig)
	case c.TapPending < 1:
		return fmt.Errorf("%w: TapPending must be at least 1", ErrInvalidConfig)
	}
	for i, n := range c.Nodes {
		switch {
		case !record.ValidName(n):
			return fmt.Errorf("%w: Nodes[%d] %q is not a NATS token", ErrInvalidConfig, i, n)
		case slices.Contains(c.Nodes[:i], n):
			return fmt.Errorf("%w: Nodes[%d] %q is listed twice", ErrInvalidConfig, i, n)
		}
	}
	for i, e := range c.Edges {
		switch {
		case !slices.Contains(c.Nodes, e[0]) || !slices.Contains(c.Nodes, e[1]):
			return fmt.Errorf("%w: Edges[%d] %v names a node not in Nodes", ErrInvalidConfig, i, e)
		case e[0] == e[1]:
			return fmt.Errorf("%w: Edges[%d] %v is a self edge", ErrInvalidConfig, i, e)
		}
	}
	return c.validateRegions()
}

// Live is one node's live view: its heartbeat and flood tap, and the page
// with its event stream.
type Live struct {
	cfg    Config
	conn   *nats.Conn  // the node's in-process connection to its own server
	routes Routes      // the node's embedded NATS server
	edges  [][2]string // Edges deduplicated, each sorted

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the beat and view loops, and every event stream

	mu      sync.Mutex // guards started, closed
	started bool
	closed  bool

	tap  *tap
	view *view
}

// New validates cfg. The view talks to the herd over conn, the node's
// connection to its own NATS server, and reads that server's routes from
// routes. It does no I/O.
func New(cfg Config, conn *nats.Conn, routes Routes) (*Live, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || routes == nil {
		return nil, fmt.Errorf("%w: nil conn or routes", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Nodes = slices.Clone(cfg.Nodes)
	if cfg.Stats == nil {
		cfg.Stats = func() NodeStats { return NodeStats{} }
	}
	if cfg.Gateways == nil {
		cfg.Gateways = func() []string { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Live{cfg: cfg, conn: conn, routes: routes, edges: normalizeEdges(cfg.Edges), ctx: ctx, cancel: cancel}
	l.tap = newTap(cfg)
	l.view = newView(cfg, l.edges)
	return l, nil
}

// normalizeEdges sorts each edge's ends and drops duplicates.
func normalizeEdges(in [][2]string) [][2]string {
	out := make([][2]string, 0, len(in))
	for _, e := range in {
		if e[1] < e[0] {
			e[0], e[1] = e[1], e[0]
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Start starts the heartbeat and the view's loop. It does not wait for
// anything remote.
func (l *Live) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return ErrStarted
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start live view: %w", err)
	}
	l.started = true
	l.wg.Add(2)
	go l.beatLoop()
	go l.viewLoop()
	return nil
}

// Close ends every event stream, says goodbye to the herd's viewers (the
// node is drawn down at once) and stops the loops. Close it before the
// node's NATS connection, and before the HTTP server's Shutdown, which
// would otherwise wait for the streams. It is safe to call more than once.
func (l *Live) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	started := l.started
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	l.tap.stop()
	l.view.unsubscribe()
	if started && !l.conn.IsClosed() {
		l.publishBye()
	}
	return nil
}

// Viewers is the number of browsers connected to this node's page now.
func (l *Live) Viewers() int { return l.view.viewerCount() }

// Tapping reports whether this node is counting its flood for a viewer
// somewhere in the herd (it does only while someone watches).
func (l *Live) Tapping() bool { return l.tap.running() }
