package embeddednats

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

type state int

const (
	stateNew state = iota
	stateStarting
	stateRunning
	stateStopped // Start failed or a fatal error shut the server down
	stateClosed
)

// readyPoll bounds one ReadyForConnections call so that Start notices
// ctx, Close and fatal errors quickly. nats-server busy-loops below 25ms.
const readyPoll = 50 * time.Millisecond

// Server is one embedded nats-server and the in-process connections handed
// out to it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	id    *nodeIdentity // the in-process connections' credential
	sysID *nodeIdentity // ConnectSystem's, with Chaos; else nil
	hits  limitCounter  // limit refusals nats-server reported
	check *routeCheck   // who may open a route (routecheck.go)

	closes routeCloses // route connections closed (routeclosed.go)

	// reloadMu serializes SetPeers and guards opts, the options the
	// running server uses (nats-server keeps the pointer it was given).
	reloadMu sync.Mutex
	opts     *server.Options

	failed    chan struct{} // closed on the first fatal error
	closed    chan struct{} // closed when Close begins
	closeOnce sync.Once

	// mu guards state, srv, conns and fatalErr.
	mu       sync.Mutex
	state    state
	srv      *server.Server
	conns    map[*nats.Conn]struct{}
	fatalErr error

	// wg tracks the shutdown started by a fatal error after Start.
	wg sync.WaitGroup

	// wrapPipe, if set, wraps the client's end of the in-process pipe of
	// Connect and ConnectSystem (tests: a slow or interrupting server).
	wrapPipe func(net.Conn) net.Conn
}

// New validates cfg, generates the node's in-process credential and builds
// the server options. It does no I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id, err := newNodeIdentity()
	if err != nil {
		return nil, err
	}
	var sysID *nodeIdentity
	if cfg.Chaos {
		if sysID, err = newNodeIdentity(); err != nil {
			return nil, err
		}
	}
	opts, err := cfg.options(id, sysID)
	if err != nil {
		return nil, err
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		opts:   opts,
		id:     id,
		sysID:  sysID,
		log:    l.With(slog.String("component", "nats-server")),
		failed: make(chan struct{}),
		closed: make(chan struct{}),
		conns:  make(map[*nats.Conn]struct{}),
	}
	s.closes.onClose = cfg.OnRouteClosed
	s.check = newRouteCheck(cfg, s.log, s.closed, newPeerSet(cfg.Peers))
	opts.CustomRouterAuthentication = s.check
	return s, nil
}

// Start starts the server and returns once its client and route listeners
// are up (and the monitor's, if configured). Routes to neighbors are dialled
// in the background; use WaitClusterFormed to wait for the mesh. If ctx ends
// or the server fails first, Start shuts it down and returns the error.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case stateNew:
	case stateClosed:
		s.mu.Unlock()
		return fmt.Errorf("start nats: %w", ErrClosed)
	default:
		s.mu.Unlock()
		return fmt.Errorf("start nats: %w", ErrStarted)
	}
	srv, err := server.NewServer(s.opts)
	if err != nil {
		s.state = stateStopped
		s.mu.Unlock()
		return fmt.Errorf("create nats server: %w", err)
	}
	lg := newSlogLogger(s.log, s.fatal)
	lg.refusedRoute = s.check.wasRefused
	s.check.liveRoutes = func() map[uint64]bool { return liveRoutes(srv) }
	s.check.remoteNodes = func() map[string]string { return remoteNodes(srv) }
	s.check.spawn = s.goRunning
	lg.reloading = s.check.reloading.Load
	lg.plainIsObserver = plainIsObserver(s.opts)
	if s.cfg.Chaos {
		lg.cutting = s.check.cutting
		s.closes.onRefused = s.routeRefused
		s.closes.onGone = s.routeGone
		s.check.onRedialed = s.routeRedialed
	}
	srv.SetLoggerV2(countingLogger{lg, &s.hits, &s.closes}, s.cfg.Debug, s.cfg.Trace, false)
	s.srv = srv
	s.state = stateStarting
	s.mu.Unlock()

	srv.Start()
	err = s.waitReady(ctx, srv)
	if err == nil {
		s.checkOwnCertificate()
	}

	s.mu.Lock()
	if err == nil && s.state == stateStarting {
		s.state = stateRunning
		s.mu.Unlock()
		return nil
	}
	if err == nil { // Close began after the server became ready
		err = ErrClosed
	}
	if s.state == stateStarting {
		s.state = stateStopped
	}
	s.mu.Unlock()
	srv.Shutdown()
	srv.WaitForShutdown()
	return fmt.Errorf("start nats: %w", err)
}

func (s *Server) waitReady(ctx context.Context, srv *server.Server) error {
	for {
		select {
		case <-s.failed:
			return s.Err()
		case <-s.closed:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("wait for listeners: %w", ctx.Err())
		default:
		}
		d := readyPoll
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			d = max(time.Until(dl), time.Millisecond)
		}
		if srv.ReadyForConnections(d) {
			select {
			case <-s.failed:
				return s.Err()
			default:
				return nil
			}
		}
	}
}

// fatal is the bridged logger's Fatalf hook: it records the first fatal
// error and, once the server is running, shuts it down in the background
// (Fatalf runs on the server's own goroutines, which Shutdown waits for).
func (s *Server) fatal(msg string) {
	s.mu.Lock()
	if s.fatalErr != nil {
		s.mu.Unlock()
		return
	}
	s.fatalErr = fmt.Errorf("%w: %s", ErrFatal, msg)
	close(s.failed)
	if s.state != stateRunning {
		// Start sees failed and shuts the server down itself.
		s.mu.Unlock()
		return
	}
	s.state = stateStopped
	srv, conns := s.srv, s.takeConnsLocked()
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		closeConns(conns)
		srv.Shutdown()
	}()
}

// Failed is closed when the server hit a fatal error (see Err).
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Err returns the fatal error that stopped the server, wrapping ErrFatal,
// or nil.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatalErr
}

// Close closes the in-process connections, shuts the server down and waits
// for all its goroutines. It is safe to call more than once and
// concurrently; every call returns after the shutdown is complete.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.state = stateClosed
		close(s.closed)
		srv, conns := s.srv, s.takeConnsLocked()
		s.mu.Unlock()

		// Close clients first so they do not start reconnecting to a
		// server that is going away.
		closeConns(conns)
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
		s.wg.Wait()
	})
	return nil
}

func (s *Server) takeConnsLocked() []*nats.Conn {
	conns := make([]*nats.Conn, 0, len(s.conns))
	for nc := range s.conns {
		conns = append(conns, nc)
	}
	clear(s.conns)
	return conns
}

func closeConns(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

// running returns the nats server if it is started and not stopped.
func (s *Server) running() (*server.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return s.srv, nil
	case stateClosed:
		return nil, ErrClosed
	case stateStopped:
		if s.fatalErr != nil {
			return nil, s.fatalErr
		}
	}
	return nil, ErrNotReady
}

// Name is the server (node) name.
func (s *Server) Name() string { return s.cfg.Name }

// NATS returns the embedded nats-server for advanced use (monitoring
// handlers, Routez, ...), or nil before Start.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// ClientURL is the URL of the client listener, e.g. "nats://127.0.0.1:4222",
// with the port resolved when 0 was asked. Empty before Start. A listener
// on all interfaces is reported as loopback.
func (s *Server) ClientURL() string {
	srv := s.NATS()
	if srv == nil {
		return ""
	}
	a, ok := srv.Addr().(*net.TCPAddr)
	if !ok || a == nil {
		return ""
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// ClusterAddr is the resolved host:port of the route listener, the address
// to seed other servers' Routes with. Empty before Start.
func (s *Server) ClusterAddr() string {
	srv := s.NATS()
	if srv == nil {
		return ""
	}
	if a := srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// MonitorAddr is the resolved host:port of the HTTP monitoring listener, or
// empty if monitoring is off or the server is not started.
func (s *Server) MonitorAddr() string {
	srv := s.NATS()
	if srv == nil {
		return ""
	}
	if a := srv.MonitorAddr(); a != nil {
		return a.String()
	}
	return ""
}
