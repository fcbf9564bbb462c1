package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
)

// Gate is the node's embedded NATS server as the service sees it.
type Gate interface {
	// BlockRoutes sets what the routes' chaos gate cuts.
	BlockRoutes(embeddednats.RouteBlock) error
	// Peers are the servers connected by route now.
	Peers() []string
	// PeerNames are the servers of its region it routes to (its herd
	// file's): the only ones a cut can apply to.
	PeerNames() []string
	// ClientURL is the server's NATS client URL.
	ClientURL() string
}

var _ Gate = (*embeddednats.Server)(nil)

// Doors are the node's client port, closed while the node is stopped.
type Doors interface {
	PauseClients() error
	ResumeClients(ctx context.Context) error
}

// Config of one node's chaos service.
type Config struct {
	// Enabled runs the service, and the routes' chaos gate, on the node
	// (node.New reads it). Only the NATS system user reaches the service,
	// so the node needs a system password.
	Enabled bool
	// Name is the node.
	Name string
	// Herd is every node of the herd, this one included, with its NATS
	// address (SetHerd replaces it).
	Herd []Member
	// Logger: nil discards. Every change is logged at warn level.
	Logger *slog.Logger
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	if !embeddednats.IsToken(c.Name) {
		return fmt.Errorf("%w: Name %q is not a NATS token", ErrInvalidConfig, c.Name)
	}
	for i, m := range c.Herd {
		if !embeddednats.IsToken(m.Name) {
			return fmt.Errorf("%w: Herd[%d].Name %q is not a NATS token", ErrInvalidConfig, i, m.Name)
		}
	}
	return nil
}

// Service is one node's chaos service.
type Service struct {
	cfg   Config
	gate  Gate
	doors Doors
	log   *slog.Logger

	// applyMu serializes the changes of the gate and the doors, so that
	// the last state decided is the last applied.
	applyMu sync.Mutex

	mu      sync.Mutex // guards the fields below
	herd    []Member
	cuts    map[string]*cut
	stopped *timed // nil while running
	conn    *nats.Conn
	subs    []*nats.Subscription
	started bool
	closed  bool
	wg      sync.WaitGroup // handlers and timers in flight
}

// timed is a state that began at since and, with a timer, ends by itself
// at until.
type timed struct {
	since, until time.Time
	timer        *time.Timer
}

type cut = timed

// New returns a node's chaos service. It does no I/O.
func New(cfg Config, gate Gate, doors Doors) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, gate: gate, doors: doors, log: l, herd: slices.Clone(cfg.Herd), cuts: map[string]*cut{}}, nil
}

// Start serves the service on nc, a connection in the NATS system
// account.
func (s *Service) Start(nc *nats.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, subj := range []string{SubjectPrefix + s.cfg.Name + ".*", StatusAll} {
		sub, err := nc.Subscribe(subj, s.handle)
		if err != nil {
			for _, sub := range s.subs {
				sub.Unsubscribe()
			}
			s.subs = nil
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		s.subs = append(s.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %s: %w", SubjectPrefix, err)
	}
	s.conn, s.started = nc, true
	return nil
}

// Close stops serving, cancels the self-healing timers and waits for the
// handlers in flight, then unsubscribes. It leaves the gate and the doors
// as they are (the node is closing). Safe to call more than once, and
// before Start.
//
// The handlers go first: a change in flight reloads the NATS server's
// options, and a reload checks every client's credentials again,
// rewriting each one's account, while nats-server reads the account of a
// client whose UNSUB it is processing without that client's lock (with
// gateways, nats-server v2.15.2: a data race). The service's own UNSUBs
// then never meet its own reload.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true // no handler or timer enters from now on
	for _, c := range s.cuts {
		c.stop()
	}
	if s.stopped != nil {
		s.stopped.stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	return nil
}

func (t *timed) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

// enter registers a handler or timer callback, unless the service is
// closed or not started.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.started {
		return false
	}
	s.wg.Add(1)
	return true
}

// SetHerd replaces the herd's members (a reloaded herd file, or a test
// herd whose addresses are known once it runs).
func (s *Service) SetHerd(members []Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.herd = slices.Clone(members)
}

// Cuts lists the peers whose routes this node cuts, sorted.
func (s *Service) Cuts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.cuts))
}

// Stopped reports whether the node is stopped.
func (s *Service) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped != nil
}

// handle answers one request. A cut or a stop is answered first and
// applied right after: the reply travels back over a route the change may
// close.
func (s *Service) handle(m *nats.Msg) {
	if !s.enter() {
		return
	}
	defer s.wg.Done()
	verb := VerbStatus
	if m.Subject != StatusAll {
		verb = m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	}
	var req Request
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			s.reply(m, fmt.Errorf("%w: %v", ErrBadRequest, err))
			return
		}
	}
	var after func() error
	var err error
	switch verb {
	case VerbCut:
		after, err = s.cut(req)
	case VerbHeal:
		after, err = s.heal(req)
	case VerbStop:
		after, err = s.stop(req)
	case VerbStart:
		after, err = s.start()
	case VerbStatus:
	default:
		err = fmt.Errorf("%w: no verb %q (want cut, heal, stop, start or status)", ErrBadRequest, verb)
	}
	if after == nil {
		s.reply(m, err)
		return
	}
	if verb == VerbStart || verb == VerbHeal {
		// Nothing closes a route: answer once the change is made (the
		// node takes clients again).
		s.reply(m, after())
		return
	}
	s.reply(m, nil)
	if err := after(); err != nil {
		s.log.Error("chaos: "+verb, "err", err)
	}
}

func (s *Service) reply(m *nats.Msg, err error) {
	st := s.Status()
	if err != nil {
		st = Status{Node: s.cfg.Name, Error: err.Error()}
	}
	data, _ := json.Marshal(st)
	if err := m.Respond(data); err != nil {
		s.log.Debug("chaos: reply", "err", err)
		return
	}
	// Out of this process before a change closes the route it takes.
	s.mu.Lock()
	nc := s.conn
	s.mu.Unlock()
	nc.Flush()
}
