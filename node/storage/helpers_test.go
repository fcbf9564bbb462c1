package storage

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns
	}
	goleak.VerifyTestMain(m)
}

// The node's store is what storage fills and snapshots.
var _ Store = (*store.Store)(nil)

// rec builds a record of client at client time tm (seconds).
func rec(t testing.TB, origin, client string, tm float64) record.Record {
	t.Helper()
	r, err := record.Parse(fmt.Appendf(nil, "AT %s +0.000000001 %s +34.068930-118.445127 %.9f", origin, client, tm))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testConfig is a config for dir and st that logs to t.
func testConfig(t testing.TB, dir string, st Store) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Store = st
	cfg.RetryInterval = 20 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// open starts a Storage on cfg and closes it at cleanup.
func open(t testing.TB, cfg Config) *Storage {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reload opens dir into a fresh store, closes it, and returns the store's
// records by client.
func reload(t testing.TB, dir string) (map[string]string, Replay) {
	t.Helper()
	st := store.New()
	s := open(t, testConfig(t, dir, st))
	rp := s.Replayed()
	if err := s.Close(); err != nil {
		t.Fatalf("close after reload: %v", err)
	}
	return contents(st), rp
}

// contents returns a store's records by client.
func contents(st *store.Store) map[string]string {
	m := make(map[string]string)
	st.Range(func(r record.Record) bool {
		m[r.Client()] = r.Line
		return true
	})
	return m
}

func sameContents(t testing.TB, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	missing, wrong := 0, 0
	for c, l := range want {
		g, ok := got[c]
		switch {
		case !ok:
			if missing++; missing <= 3 {
				t.Errorf("client %s missing; want %q", c, l)
			}
		case g != l:
			if wrong++; wrong <= 3 {
				t.Errorf("client %s = %q; want %q", c, g, l)
			}
		}
	}
	t.Fatalf("replayed %d clients, want %d: %d missing, %d differ", len(got), len(want), missing, wrong)
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logRecorder is a slog handler that keeps every line's message and attrs.
type logRecorder struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

// find returns the first line containing every part.
func (l *logRecorder) find(parts ...string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
outer:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue outer
			}
		}
		return line, true
	}
	return "", false
}

// countObserver counts what storage reports.
type countObserver struct {
	NopObserver
	mu        sync.Mutex // guards the fields below
	syncs     int
	synced    int           // records made durable by fsyncs
	syncTime  time.Duration // summed fsync latency
	wrote     int
	snapshots int
	snapErrs  int
	notPers   map[DropReason]int
	health    []Health
	logBytes  int64
	snapBytes int64
}

func (o *countObserver) Synced(d time.Duration, n int) {
	o.mu.Lock()
	o.syncs++
	o.syncTime += d
	o.synced += n
	o.mu.Unlock()
}

func (o *countObserver) Wrote(n, _ int) {
	o.mu.Lock()
	o.wrote += n
	o.mu.Unlock()
}

func (o *countObserver) Snapshotted(s SnapshotStats) {
	o.mu.Lock()
	if s.Err != nil {
		o.snapErrs++
	} else {
		o.snapshots++
	}
	o.mu.Unlock()
}

func (o *countObserver) NotPersisted(n int, r DropReason) {
	o.mu.Lock()
	if o.notPers == nil {
		o.notPers = make(map[DropReason]int)
	}
	o.notPers[r] += n
	o.mu.Unlock()
}

func (o *countObserver) HealthChanged(h Health) {
	o.mu.Lock()
	o.health = append(o.health, h)
	o.mu.Unlock()
}

func (o *countObserver) DiskUsage(l, s int64) {
	o.mu.Lock()
	o.logBytes, o.snapBytes = l, s
	o.mu.Unlock()
}

func (o *countObserver) get(f func(o *countObserver) int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f(o)
}

var _ Observer = (*countObserver)(nil)

// diskBytes sums the sizes of the log segments and snapshots in dir.
func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logExt) || strings.HasSuffix(e.Name(), snapExt) {
			fi, err := os.Stat(filepath.Join(dir, e.Name()))
			if err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// files lists dir's segment and snapshot names.
func files(t testing.TB, dir string) dirFiles {
	t.Helper()
	f, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
