package embeddednats

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node/nodetest/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; conditions are polled.
const waitTimeout = 15 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or waitTimeout passes (the herd's one
// polling helper, node/nodetest/wait).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Within(t, waitTimeout, what, cond)
}

// tWriter sends log lines to t.Log, shown only on failure or with -v.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger logs warnings and errors to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// captureHandler records every log record at or above level.
type captureHandler struct {
	level slog.Level
	// mu guards recs, shared by handlers derived with WithAttrs.
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newCapture(level slog.Level) *captureHandler {
	return &captureHandler{level: level, mu: &sync.Mutex{}, recs: &[]slog.Record{}}
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r.Clone())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.recs...)
}

// count returns how many records contain every one of substrs.
func (h *captureHandler) count(substrs ...string) int {
	n := 0
	for _, r := range h.records() {
		all := true
		for _, s := range substrs {
			all = all && strings.Contains(r.Message, s)
		}
		if all {
			n++
		}
	}
	return n
}

// teeHandler sends records to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}
func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.a.Enabled(ctx, r.Level) {
		_ = h.a.Handle(ctx, r)
	}
	if h.b.Enabled(ctx, r.Level) {
		_ = h.b.Handle(ctx, r)
	}
	return nil
}
func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}
func (h teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{h.a.WithGroup(g), h.b.WithGroup(g)}
}

// testConfig is DefaultConfig with a name and a test logger.
func testConfig(t *testing.T, name string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.Logger = testLogger(t)
	return cfg
}

// startServer builds and starts a server and closes it when the test ends.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Start(testContext(t)); err != nil {
		t.Fatalf("Start(%s): %v", cfg.Name, err)
	}
	return s
}

var _ io.Writer = tWriter{}
