// Package logfile is a node's optional log file: a buffered, periodically
// flushed file behind a slog handler, and a Tee handler that sends each
// record to the console handler and to the file, each at its own level.
//
// The file records what the classic herd wrote to its log: every client
// input and output and every connection opened and closed (debug level).
// Writes go to a buffer and reach the disk every FlushInterval and on
// Close, so logging a busy connection costs a formatted line in memory,
// not a system call.
package logfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid log file config")
	ErrClosed        = errors.New("log file closed")
	// ErrNotOpen: a line written before Start is dropped.
	ErrNotOpen = errors.New("log file not open")
)

// Config of a log file.
type Config struct {
	// Path of the file; it is created (mode 0640) or appended to.
	Path string
	// Format is "text" or "json".
	Format string
	// Level is the lowest level written; debug records client traffic.
	Level slog.Level
	// FlushInterval is how often buffered lines reach the file.
	FlushInterval time.Duration
	// BufferBytes is the write buffer's size; a fuller buffer is written
	// at once.
	BufferBytes int
}

// DefaultConfig writes text at debug level, flushed every second.
func DefaultConfig() Config {
	return Config{Format: "text", Level: slog.LevelDebug, FlushInterval: time.Second, BufferBytes: 64 << 10}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("%w: Path is empty", ErrInvalidConfig)
	case c.Format != "text" && c.Format != "json":
		return fmt.Errorf("%w: Format %q: want text or json", ErrInvalidConfig, c.Format)
	case c.FlushInterval <= 0:
		return fmt.Errorf("%w: FlushInterval must be positive", ErrInvalidConfig)
	case c.BufferBytes < 1:
		return fmt.Errorf("%w: BufferBytes must be at least 1", ErrInvalidConfig)
	}
	return nil
}

// File is a log file.
type File struct {
	cfg     Config
	handler slog.Handler
	done    chan struct{}
	wg      sync.WaitGroup // the flusher

	mu     sync.Mutex // guards f, w, closed
	f      *os.File   // nil until Start
	w      *bufio.Writer
	closed bool
}

// New validates cfg and makes the file's handler, so that loggers can be
// built before the file is opened. It does no I/O: lines written before
// Start are dropped.
func New(cfg Config) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lf := &File{cfg: cfg, done: make(chan struct{})}
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "json" {
		lf.handler = slog.NewJSONHandler(lf, opts)
	} else {
		lf.handler = slog.NewTextHandler(lf, opts)
	}
	return lf, nil
}

// Start opens the file (creating it, or appending) and starts the flusher.
func (lf *File) Start() error {
	f, err := os.OpenFile(lf.cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.closed || lf.f != nil {
		f.Close()
		return ErrClosed
	}
	lf.f, lf.w = f, bufio.NewWriterSize(f, lf.cfg.BufferBytes)
	lf.wg.Add(1)
	go lf.flushLoop()
	return nil
}

// Open is New and Start.
func Open(cfg Config) (*File, error) {
	lf, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := lf.Start(); err != nil {
		return nil, err
	}
	return lf, nil
}

// Handler is the slog handler writing to the file.
func (f *File) Handler() slog.Handler { return f.handler }

// Path is the file's path.
func (f *File) Path() string { return f.cfg.Path }

var _ io.Writer = (*File)(nil)

// Write buffers p (one formatted record). After Close it fails.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return 0, ErrClosed
	case f.w == nil:
		return 0, ErrNotOpen
	}
	return f.w.Write(p)
}

// Flush writes buffered lines to the file.
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.w == nil {
		return nil
	}
	return f.w.Flush()
}

func (f *File) flushLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
			// A failing disk is not worth taking the node down; the
			// error recurs at Close, which reports it.
			_ = f.Flush()
		}
	}
}

// Close flushes and closes the file (if Start opened it) and stops the
// flusher. It is safe to call more than once.
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.done)
	var err error
	if f.f != nil {
		err = errors.Join(f.w.Flush(), f.f.Close())
	}
	f.mu.Unlock()
	f.wg.Wait()
	if err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}

// Tee sends each record to every handler that is enabled for its level.
// Enabled is true if any handler is, so a disabled level still costs the
// caller nothing.
func Tee(hs ...slog.Handler) slog.Handler { return tee(hs) }

type tee []slog.Handler

func (t tee) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t tee) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range t {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (t tee) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t tee) WithGroup(name string) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}

// MinLevel drops records below level before h sees them.
func MinLevel(h slog.Handler, level slog.Level) slog.Handler { return minLevel{h, level} }

type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
