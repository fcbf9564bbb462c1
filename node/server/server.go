package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/herdhq/herd/bus/ratelog"
	"github.com/herdhq/herd/node/core"
)

// Server serves the client protocol on one TCP listener.
type Server struct {
	cfg  Config
	core *core.Core

	// readers and writers are the connections' buffers, held only while a
	// connection is sending or being answered.
	readers, writers sync.Pool
	limits           *ratelog.Limiter // limit hits, which clients can cause in floods

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, connection loops, WHATSAT lookups

	// batches recycles written reply batches across connections (see
	// conn.send); it holds *reply with an empty buffer.
	batches sync.Pool

	mu     sync.Mutex // guards ln, conns, closed
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
}

// New validates cfg; the server runs its clients' commands on c. It does
// no I/O.
func New(cfg Config, c *core.Core) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: nil core", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, core: c, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{}),
		limits: ratelog.New(cfg.Logger, ratelog.DefaultConfig())}
	s.readers.New = func() any { return bufio.NewReaderSize(nil, cfg.MaxLineBytes+2) }
	s.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufBytes) }
	s.batches.New = func() any { return &reply{buf: make([]byte, 0, 4096)} }
	return s, nil
}

// Start listens and returns once the listener is up; connections are
// served in the background until Close. ctx bounds only the start.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.ln = ln
	s.mu.Unlock()
	s.cfg.Logger.Info("client port listening", "addr", ln.Addr().String())
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// Addr is the listener's address (with the real port when ":0" was asked),
// or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// NumConns is the number of open client connections.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, closes every connection, cancels lookups and
// waits for all goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close listener: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE and the like): keep serving.
			s.cfg.Logger.Warn("accept failed", "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-retryAfter():
			}
			continue
		}
		if !s.track(nc) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			newConn(s, nc).serve()
		}()
	}
}

// track registers nc, or closes it when the server is closed or full.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return false
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.limits.Log(slog.LevelWarn, "connection refused: connection limit reached",
			"remote", nc.RemoteAddr().String(), "max_connections", s.cfg.MaxConns)
		nc.Close()
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}
