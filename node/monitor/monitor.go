// Package monitor is a node's one HTTP port: a ServeMux that the node (and
// later features, such as a live web page) mount handlers on, served on one
// listener with sane timeouts. It answers only requests addressed to the
// port itself or to a loopback name, and lets no other origin read its
// answers (guard.go).
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid monitor config")
	ErrStarted       = errors.New("monitor already started")
	ErrClosed        = errors.New("monitor closed")
)

// Config of the monitor port.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free port.
	Addr string
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for requests in flight
	// (long polls such as /connz?... or a streaming page) before cutting them.
	ShutdownTimeout time.Duration
	// AllowedHosts are host names, besides Addr's host, the bound
	// address, localhost and loopback IPs, that requests may carry in
	// their Host header (e.g. the name of a reverse proxy).
	AllowedHosts []string
	Logger       *slog.Logger
}

// DefaultConfig listens on a free loopback port.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:0",
		ReadHeaderTimeout: 5 * time.Second,
		ShutdownTimeout:   2 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: Addr %q: %v", ErrInvalidConfig, c.Addr, err)
	}
	switch {
	case c.ReadHeaderTimeout <= 0:
		return fmt.Errorf("%w: ReadHeaderTimeout must be positive", ErrInvalidConfig)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("%w: ShutdownTimeout must be positive", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is nil", ErrInvalidConfig)
	}
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, " \t\r\n/:@") && !strings.HasPrefix(h, "[") {
			return fmt.Errorf("%w: AllowedHosts[%d] %q: want a host name or IP, without port", ErrInvalidConfig, i, h)
		}
	}
	return nil
}

// Server is the monitor port.
type Server struct {
	cfg Config
	mux *http.ServeMux
	srv *http.Server

	wg    sync.WaitGroup             // the serve goroutine
	hosts atomic.Pointer[hostPolicy] // set by Start; nil refuses every request

	mu      sync.Mutex // guards ln, started, closed
	ln      net.Listener
	started bool
	closed  bool
}

// New validates cfg. It does no I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.srv = &http.Server{
		Handler:           s.guard(s.mux),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handle mounts h on pattern (http.ServeMux patterns, e.g. "GET /metrics").
// Handlers may be mounted before or after Start. A pattern that conflicts
// with one already mounted is an error, not a panic.
func (s *Server) Handle(pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil { // ServeMux panics on conflicts
			err = fmt.Errorf("mount %s: %v", pattern, r)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// HandleFunc mounts f on pattern; see Handle.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) error {
	return s.Handle(pattern, http.HandlerFunc(f))
}

// Start listens and returns once the listener is up; requests are served
// in the background until Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln, s.started = ln, true
	s.hosts.Store(newHostPolicy(s.cfg.Addr, ln.Addr(), s.cfg.AllowedHosts))
	s.cfg.Logger.Info("monitor port listening", "addr", ln.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Warn("monitor port stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the listener's address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL is "http://host:port" of the listener, or "" before Start.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	return "http://" + a.String()
}

// Close stops the listener, lets requests in flight finish for up to
// ShutdownTimeout, then cuts them, and waits for the serve goroutine. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("close monitor: %w", err)
	}
	return nil
}
