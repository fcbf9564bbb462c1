package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixedClock is the node's clock in tests: 1621464828.223372037.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1621464828, 223372037) }

// fakePlaces answers with n deterministic places around the query, or the
// scripted failure; it can block until released to test ordering.
type fakePlaces struct {
	n       int
	status  string
	err     error
	gate    chan struct{} // when non-nil, Nearby waits for it
	calls   atomic.Int64
	lastQ   atomic.Value
	badJSON bool
}

var _ places.Provider = (*fakePlaces)(nil)

func (f *fakePlaces) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	f.calls.Add(1)
	f.lastQ.Store(q)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return places.Response{}, ctx.Err()
		}
	}
	if f.err != nil {
		return places.Response{}, f.err
	}
	if f.status != "" {
		return places.Failure(f.status, "scripted failure"), nil
	}
	if f.badJSON {
		return places.Response{Status: places.StatusOK, Results: []json.RawMessage{json.RawMessage(`{"x":`)}}, nil
	}
	resp := places.Response{HTMLAttributions: []string{`<a href="https://example.org/?a=1&b=2">fake data</a>`}, Status: places.StatusOK}
	for i := range f.n {
		p := places.Place{
			Geometry: places.Geometry{Location: places.LatLng{Lat: q.Lat + float64(i)/100, Lng: q.Lng}},
			Name:     fmt.Sprintf("Place %d\nwith a newline", i),
			PlaceID:  fmt.Sprintf("fake-%d", i),
			Types:    []string{"locality", "political"},
			Vicinity: "Fake City",
		}
		b, err := p.JSON()
		if err != nil {
			return places.Response{}, err
		}
		resp.Results = append(resp.Results, b)
	}
	if f.n == 0 {
		resp.Status = places.StatusZeroResults
	}
	return resp, nil
}

// chanFlood is the flood as the core sees it: it keeps what it is handed.
type chanFlood chan record.Record

func (f chanFlood) Publish(r record.Record) { f <- r }

// newCore is node Goloman's command core on st and p, with the fixed clock.
func newCore(t testing.TB, st *store.Store, p places.Provider, fl core.Flood) *core.Core {
	t.Helper()
	c, err := core.New(core.Config{Name: "Goloman", Clock: fixedClock{}}, st, p, fl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testServer struct {
	*Server
	store  *store.Store
	places *fakePlaces
	stored chanFlood
}

// startServer starts a server on Goloman's core; mod may change its
// config, and set places (the golden WHATSAT errors script them).
func startServer(t *testing.T, mod func(*Config, *places.Provider)) *testServer {
	t.Helper()
	ts := &testServer{store: store.New(), places: &fakePlaces{n: 3}, stored: make(chanFlood, 10000)}
	cfg := DefaultConfig()
	var p places.Provider = ts.places
	if mod != nil {
		mod(&cfg, &p)
	}
	s, err := New(cfg, newCore(t, ts.store, p, ts.stored))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	ts.Server = s
	return ts
}

func (ts *testServer) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends input, half-closes, and reads every reply until the
// server closes the connection.
func (ts *testServer) roundTrip(t *testing.T, input []byte) []byte {
	t.Helper()
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(input)
		c.CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read replies: %v", err)
	}
	return out
}

// TestServer_Golden sends each testdata/*.in over one connection, half-closes
// and compares every byte of the replies with testdata/*.golden.
func TestServer_Golden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, func(_ *Config, p *places.Provider) {
				if name == "whatsat_errors" {
					*p = &scripted{}
				}
			})
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := ts.roundTrip(t, input)
			golden := strings.TrimSuffix(in, ".in") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("replies differ from %s\n got: %q\nwant: %q", golden, got, want)
			}
		})
	}
}

// scripted answers the golden WHATSAT error cases by radius: 1 km → zero
// results, 2 → OVER_QUERY_LIMIT, 3 → a failed call, 4 → malformed results,
// else two places.
type scripted struct{}

func (scripted) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	switch q.RadiusM {
	case 1000:
		return (&fakePlaces{n: 0}).Nearby(ctx, q)
	case 2000:
		return (&fakePlaces{status: places.StatusOverQueryLimit}).Nearby(ctx, q)
	case 3000:
		return (&fakePlaces{err: errors.New("dial tcp: connection refused")}).Nearby(ctx, q)
	case 4000:
		return (&fakePlaces{badJSON: true}).Nearby(ctx, q)
	}
	return (&fakePlaces{n: 2}).Nearby(ctx, q)
}

func TestServer_IAMATStoresAndReportsNewer(t *testing.T) {
	ts := startServer(t, nil)
	out := ts.roundTrip(t, []byte("IAMAT c +1+1 100\nIAMAT c +1+1 100\nIAMAT c +1+1 99\nIAMAT c +2+2 101\n"))
	if n := strings.Count(string(out), "\n"); n != 4 {
		t.Fatalf("got %d replies: %q", n, out)
	}
	var got []string
	for len(ts.stored) > 0 {
		got = append(got, (<-ts.stored).Time())
	}
	if strings.Join(got, ",") != "100,101" {
		t.Fatalf("records flooded: %v, want 100,101", got)
	}
	r, _ := ts.store.Get("c")
	if r.Location() != "+2+2" {
		t.Fatalf("stored %q", r.Line)
	}
}

func TestServer_WHATSATQuery(t *testing.T) {
	ts := startServer(t, nil)
	ts.roundTrip(t, []byte("IAMAT kiwi +34.068930-118.445127 1621464827.959498503\nWHATSAT kiwi 10.5 2\n"))
	q := ts.places.lastQ.Load().(places.Query)
	if q.Lat != 34.068930 || q.Lng != -118.445127 || q.RadiusM != 10500 || q.Limit != 2 {
		t.Fatalf("query %+v", q)
	}
}

// 1,000 pipelined commands on one connection, WHATSATs held up by a slow
// provider: the replies come back complete and in command order.
func TestServer_PipelinedInOrder(t *testing.T) {
	ts := startServer(t, func(c *Config, _ *places.Provider) { c.MaxOutstanding = 64 })
	ts.places.gate = make(chan struct{})
	var in bytes.Buffer
	var want []string
	for i := range 1000 {
		switch i % 10 {
		case 3:
			fmt.Fprintf(&in, "WHATSAT c%d 5 1\n", i-1)
			want = append(want, fmt.Sprintf("AT Goloman +1.223372037 c%d +1+1 1621464827", i-1))
		case 7:
			fmt.Fprintf(&in, "BOGUS %d\n", i)
			want = append(want, fmt.Sprintf("? BOGUS %d", i))
		default:
			fmt.Fprintf(&in, "IAMAT c%d +1+1 1621464827\n", i)
			want = append(want, fmt.Sprintf("AT Goloman +1.223372037 c%d +1+1 1621464827", i))
		}
	}
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		c.Write(in.Bytes())
		c.CloseWrite()
	}()
	// Nothing past the first WHATSAT may arrive before it is answered.
	wait.For(t, "first lookup", func() bool { return ts.places.calls.Load() >= 1 })
	close(ts.places.gate)
	br := bufio.NewReader(c)
	for i, w := range want {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if strings.TrimSuffix(line, "\n") != w {
			t.Fatalf("reply %d = %q, want %q", i, line, w)
		}
		if i%10 == 3 { // skip the JSON body through its blank line
			for line != "\n" {
				if line, err = br.ReadString('\n'); err != nil {
					t.Fatalf("reply %d body: %v", i, err)
				}
			}
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("extra output %q", rest)
	}
}

// A 1 MB line is answered "?" with its first MaxLineBytes bytes, the rest
// of it is skipped without being held in memory, and the next line works.
func TestServer_LongLine(t *testing.T) {
	ts := startServer(t, nil)
	long := bytes.Repeat([]byte("x"), 1<<20)
	copy(long, "IAMAT ")
	input := append(append(long, '\n'), "IAMAT c +1+1 1621464828\n"...)
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() {
		c.Write(input)
		c.CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	want := "? " + string(long[:4096]) + "\nAT Goloman +0.223372037 c +1+1 1621464828\n"
	if string(out) != want {
		t.Fatalf("got %d bytes %.80q..., want %d bytes", len(out), out, len(want))
	}
	// The test itself allocated the input before measuring; what the server
	// allocated for the megabyte must be far less than the megabyte.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Fatalf("serving a 1 MB line allocated %d bytes", alloc)
	}
}

func TestServer_LineLimitBoundary(t *testing.T) {
	ts := startServer(t, func(c *Config, _ *places.Provider) { c.MaxLineBytes = 64 })
	ok := "IAMAT c +1+1 1621464828.2233720370000000000000000000000000000000" // 64 bytes
	tooLong := ok + "0"
	if len(ok) != 64 {
		t.Fatalf("test line is %d bytes", len(ok))
	}
	out := ts.roundTrip(t, []byte(ok+"\r\n"+tooLong+"\n"+tooLong+"\r\n"))
	want := "AT Goloman +0.000000000 c +1+1 1621464828.2233720370000000000000000000000000000000\n" +
		"? " + ok + "\n" + "? " + ok + "\n"
	if string(out) != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
}

// fillTimeout bounds the wait for a write timeout of a client that never
// reads: the server's writes block only once its socket's send buffer is
// full, which the kernel grows up to net.ipv4.tcp_wmem's maximum (4 MB
// here: about 3,300 of the WHATSAT replies below). Under a loaded race run
// that filling alone took more than wait.Timeout.
const fillTimeout = time.Minute

// A client that never reads its replies is cut off by the write timeout,
// and meanwhile another client is served as usual.
func TestServer_SlowReader(t *testing.T) {
	ts := startServer(t, func(c *Config, _ *places.Provider) {
		c.WriteTimeout = 200 * time.Millisecond
		c.MaxOutstanding = 4
	})
	slow := ts.dial(t)
	slow.SetReadBuffer(4096)
	ts.roundTrip(t, []byte("IAMAT c +1+1 1\n"))
	var flood bytes.Buffer
	for flood.Len() < 8<<20 {
		flood.WriteString("WHATSAT c 50 20\n")
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := slow.Write(flood.Bytes())
		writeErr <- err
	}()
	// While the slow client is stuck, a normal client gets its answer.
	for range 5 {
		if out := ts.roundTrip(t, []byte("IAMAT d +1+1 1621464828\n")); string(out) != "AT Goloman +0.223372037 d +1+1 1621464828\n" {
			t.Fatalf("normal client got %q", out)
		}
	}
	// The slow client is disconnected: its pending write fails.
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("slow client wrote 8 MB without reading: server kept reading it")
		}
	case <-time.After(fillTimeout):
		t.Fatal("slow client was not disconnected")
	}
	wait.For(t, "slow connection dropped", func() bool { return ts.NumConns() == 0 })
}

func TestServer_IdleTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config, _ *places.Provider) { c.IdleTimeout = 100 * time.Millisecond })
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("IAMAT c +1+1 1621464828\n")); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c) // ends when the server closes the idle connection
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "AT Goloman +0.223372037 c +1+1 1621464828\n" {
		t.Fatalf("got %q", out)
	}
}

func TestServer_MaxConns(t *testing.T) {
	ts := startServer(t, func(c *Config, _ *places.Provider) { c.MaxConns = 2 })
	a, b := ts.dial(t), ts.dial(t)
	wait.For(t, "two connections", func() bool { return ts.NumConns() == 2 })
	third := ts.dial(t)
	third.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatalf("third connection read %d bytes, want it closed", n)
	}
	for _, c := range []*net.TCPConn{a, b} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "IAMAT c +1+1 1621464828\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "AT Goloman +0.223372037 c +1+1 1621464828\n" {
			t.Fatalf("connection under the cap: %q, %v", line, err)
		}
	}
}

// Close ends open connections, in-flight lookups and itself, twice over.
func TestServer_Close(t *testing.T) {
	ts := startServer(t, nil)
	ts.places.gate = make(chan struct{}) // never released: lookups end by cancellation
	c := ts.dial(t)
	fmt.Fprintf(c, "IAMAT c +1+1 1\nWHATSAT c 1 1\n")
	wait.For(t, "lookup started", func() bool { return ts.places.calls.Load() == 1 })
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(c)
	if _, err := net.Dial("tcp", ts.Addr().String()); err == nil {
		t.Fatal("listener still accepts after Close")
	}
}

func TestServer_ConcurrentClients(t *testing.T) {
	ts := startServer(t, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", ts.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for j := range 50 {
				fmt.Fprintf(c, "IAMAT c%d +1+1 %d\n", i, j)
				line, err := br.ReadString('\n')
				if want := fmt.Sprintf("c%d +1+1 %d\n", i, j); err != nil || !strings.HasSuffix(line, want) {
					t.Errorf("got %q, %v", line, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if ts.store.Len() != 20 {
		t.Fatalf("store holds %d clients", ts.store.Len())
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"Addr", func(c *Config) { c.Addr = "" }},
		{"MaxLineBytes", func(c *Config) { c.MaxLineBytes = MinLineBytes - 1 }},
		{"MaxLineBytes", func(c *Config) { c.MaxLineBytes = MaxLineBytesCap + 1 }},
		{"IdleTimeout", func(c *Config) { c.IdleTimeout = 0 }},
		{"WriteTimeout", func(c *Config) { c.WriteTimeout = -1 }},
		{"MaxConns", func(c *Config) { c.MaxConns = 0 }},
		{"MaxOutstanding", func(c *Config) { c.MaxOutstanding = 0 }},
		{"MaxOutstanding", func(c *Config) { c.MaxOutstanding = MaxOutstandingCap + 1 }},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("valid config: %v", err)
		}
		tt.mod(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: Validate() = %v", tt.field, err)
		}
	}
}
