package herdrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places/googlefake"
	"github.com/herdhq/herd/node/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "AIzaTEST-herdrun-key"

func TestNodeConfig(t *testing.T) {
	hf, err := herdfile.Parse(deploy.DefaultHerdFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NodeConfig(hf, "Holiday", nil, Logger(hf.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	wantRoutes := "nats-route://127.0.0.1:16221 nats-route://127.0.0.1:16224 nats-route://127.0.0.1:16225"
	switch {
	case cfg.Name != "Holiday" || strings.Join(cfg.Neighbors, ",") != "Goloman,Welsh,Wilkes":
		t.Errorf("name/neighbors %s %v", cfg.Name, cfg.Neighbors)
	case cfg.Client.Addr != "127.0.0.1:12003" || cfg.NATS.ClientAddr != "127.0.0.1:14223" || cfg.NATS.ClusterAddr != "127.0.0.1:16223":
		t.Errorf("addresses %s %s %s", cfg.Client.Addr, cfg.NATS.ClientAddr, cfg.NATS.ClusterAddr)
	case strings.Join(cfg.NATS.Routes, " ") != wantRoutes:
		t.Errorf("routes %v, want %s", cfg.NATS.Routes, wantRoutes)
	case cfg.NATS.ClusterName != "herd":
		t.Errorf("cluster name %s", cfg.NATS.ClusterName)
	case cfg.AntiEntropy.Interval != 5*time.Second || cfg.AntiEntropy.Jitter != 0.2 || cfg.AntiEntropy.Timeout != 2*time.Second:
		t.Errorf("anti-entropy %+v", cfg.AntiEntropy)
	case cfg.Client.MaxLineBytes != 4096 || cfg.Client.IdleTimeout != 5*time.Minute || cfg.Client.MaxConns != 10000 || cfg.Client.MaxOutstanding != 1024:
		t.Errorf("limits %+v", cfg.Client)
	case cfg.NATS.ObserverLimits != (embeddednats.ObserverLimits{Subscriptions: 1000, Connections: 32, PendingBytes: 16 << 20, Payload: 128 << 10}):
		t.Errorf("observer limits %+v, want the herd file's", cfg.NATS.ObserverLimits)
	case cfg.NATS.InsecureRoutes:
		t.Error("InsecureRoutes set, the herd file says false")
	case cfg.Storage.Dir != "":
		t.Errorf("storage dir %q, the built-in herd keeps records in memory only", cfg.Storage.Dir)
	}
	hf.Storage.Dir, hf.Storage.Fsync = "/var/lib/herd", "always"
	if cfg, err := NodeConfig(hf, "Holiday", nil, Logger(hf.Log, io.Discard)); err != nil || cfg.Storage.Dir != "/var/lib/herd" || cfg.Storage.Fsync != storage.FsyncAlways {
		t.Errorf("storage %q %v (%v), want the herd file's dir and always", cfg.Storage.Dir, cfg.Storage.Fsync, err)
	}
	if _, err := NodeConfig(hf, "Nobody", nil, Logger(hf.Log, io.Discard)); err == nil || !strings.Contains(err.Error(), "Goloman") {
		t.Errorf("unknown node: %v", err)
	}
}

// soloHerd is a one-node herd file on port 0 answering WHATSAT from a fake
// Google server.
func soloHerd(t testing.TB, fakeURL, extra string) herdfile.Config {
	t.Helper()
	hf, err := herdfile.Parse([]byte(fmt.Sprintf(`
places:
  provider: google
  base_url: %s
  key_env: TEST_PLACES_KEY
%s
nodes:
  - name: Solo
    client: 127.0.0.1:0
    nats: 127.0.0.1:0
    cluster: 127.0.0.1:0
`, fakeURL, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return hf
}

// testProviders makes hf's providers with testKey in TEST_PLACES_KEY.
func testProviders(t *testing.T, hf herdfile.Config) *Providers {
	t.Helper()
	return providersWithKey(t, hf, testKey)
}

// providersWithKey makes hf's providers with key in TEST_PLACES_KEY.
func providersWithKey(t *testing.T, hf herdfile.Config, key string) *Providers {
	t.Helper()
	ps, err := NewProviders(hf, func(k string) string {
		if k == "TEST_PLACES_KEY" {
			return key
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func startSolo(t *testing.T, hf herdfile.Config) (*Herd, *Providers) {
	t.Helper()
	return startSoloKey(t, hf, testKey)
}

// startSoloKey starts hf with key in TEST_PLACES_KEY.
func startSoloKey(t *testing.T, hf herdfile.Config, key string) (*Herd, *Providers) {
	t.Helper()
	ps := providersWithKey(t, hf, key)
	h, err := Start(context.Background(), hf, nil, ps, Logger(hf.Log, io.Discard))
	if err != nil {
		ps.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		ps.Close()
	})
	return h, ps
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// readWhatsat reads one WHATSAT reply: the AT line and the JSON through its
// blank line.
func readWhatsat(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
	}
}

// iamatWhatsat stores kiwi through c and asks what is near it; it
// returns the AT line and the whole WHATSAT reply.
func iamatWhatsat(t *testing.T, c net.Conn, br *bufio.Reader) (at, reply string) {
	t.Helper()
	fmt.Fprintf(c, "IAMAT kiwi +34.068930-118.445127 1621464827\nWHATSAT kiwi 10 5\n")
	at, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if reply, err = readWhatsat(br); err != nil {
		t.Fatal(err)
	}
	return at, reply
}

// 100 identical WHATSATs at once, from 100 client connections, cost one
// upstream call: the cache is off, so only collapsing can explain it.
func TestStart_GoogleCollapsesIdenticalWhatsats(t *testing.T) {
	fake := googlefake.NewPlaces(googlefake.Options{APIKey: testKey})
	defer fake.Close()
	h, ps := startSolo(t, soloHerd(t, fake.URL(), "  cache_ttl: 0s"))
	addr := h.Nodes[0].ClientAddr()
	c := dial(t, addr)
	fmt.Fprintf(c, "IAMAT kiwi +34.068930-118.445127 1621464827\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "AT Solo ") {
		t.Fatalf("IAMAT: %q %v", line, err)
	}
	c.Close()

	fake.Hold()
	const n = 100
	replies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			defer c.Close()
			fmt.Fprintf(c, "WHATSAT kiwi 10 5\n")
			replies[i], _ = readWhatsat(bufio.NewReader(c))
		}()
	}
	wait.Within(t, 20*time.Second, "100 WHATSATs waiting on one upstream call", func() bool {
		st := ps.Stats()
		return fake.Calls() == 1 && len(st) == 1 && st[0].Waiting == n
	})
	fake.Release()
	wg.Wait()
	for i, r := range replies {
		if !strings.HasPrefix(r, "AT Solo ") || !strings.Contains(r, `"status": "OK"`) || !strings.HasSuffix(r, "}\n\n") {
			t.Fatalf("reply %d: %q", i, r)
		}
	}
	if got := fake.Calls(); got != 1 {
		t.Fatalf("upstream calls = %d, want 1", got)
	}
}

// An upstream that does not answer in time gives an UNKNOWN_ERROR body, and
// the connection keeps working.
func TestStart_GoogleTimeout(t *testing.T) {
	fake := googlefake.NewPlaces(googlefake.Options{APIKey: testKey})
	defer fake.Close()
	fake.Hold() // never answers
	h, _ := startSolo(t, soloHerd(t, fake.URL(), "  timeout: 100ms"))
	c := dial(t, h.Nodes[0].ClientAddr())
	defer c.Close()
	br := bufio.NewReader(c)
	at, reply := iamatWhatsat(t, c, br)
	if !strings.HasPrefix(reply, at) || !strings.Contains(reply, `"status": "UNKNOWN_ERROR"`) || !strings.Contains(reply, `"error_message"`) {
		t.Fatalf("WHATSAT reply %q", reply)
	}
	if strings.Contains(reply, testKey) {
		t.Fatal("reply contains the API key")
	}
	fmt.Fprintf(c, "IAMAT kiwi +1+1 1621464828\n")
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "AT Solo ") {
		t.Fatalf("connection unusable after the timeout: %q %v", line, err)
	}
}

// BenchmarkNode_Whatsat5000 sends 5,000 concurrent WHATSATs (500
// connections × 10 pipelined, 5,000 distinct clients and places) to one
// node whose Google upstream takes 200 ms, and reports throughput, peak
// heap and upstream calls.
//
//	go test -run '^$' -bench Whatsat5000 -benchtime 1x ./cmd/internal/herdrun/
func BenchmarkNode_Whatsat5000(b *testing.B) {
	for _, bc := range []struct {
		name    string
		clients int // distinct clients; each asked 5000/clients times
	}{{"distinct", 5000}, {"500clients", 500}} {
		b.Run(bc.name, func(b *testing.B) {
			fake := googlefake.NewPlaces(googlefake.Options{APIKey: testKey, Latency: 200 * time.Millisecond})
			defer fake.Close()
			hf := soloHerd(b, fake.URL(), "  cache_ttl: 0s\n  max_concurrent: 64")
			ps, err := NewProviders(hf, func(string) string { return testKey })
			if err != nil {
				b.Fatal(err)
			}
			defer ps.Close()
			h, err := Start(context.Background(), hf, nil, ps, Logger(hf.Log, io.Discard))
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			addr := h.Nodes[0].ClientAddr()
			// Store the clients first.
			c := dial(b, addr)
			var in strings.Builder
			for i := range bc.clients {
				fmt.Fprintf(&in, "IAMAT c%d +%d.%04d-118.4 1621464827\n", i, 30+i%10, i)
			}
			c.Write([]byte(in.String()))
			br := bufio.NewReader(c)
			for range bc.clients {
				if _, err := br.ReadString('\n'); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			var peak uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			calls0 := fake.Calls()
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				for conn := range 500 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := dial(b, addr)
						defer c.Close()
						var req strings.Builder
						for j := range 10 {
							fmt.Fprintf(&req, "WHATSAT c%d 10 5\n", (conn*10+j)%bc.clients)
						}
						c.Write([]byte(req.String()))
						br := bufio.NewReader(c)
						for range 10 {
							r, err := readWhatsat(br)
							if err != nil || !strings.Contains(r, `"status": "OK"`) {
								b.Errorf("reply %q %v", r, err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			close(stop)
			<-done
			b.ReportMetric(float64(5000*b.N)/elapsed.Seconds(), "whatsat/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(fake.Calls()-calls0)/float64(b.N), "upstream-calls/op")
		})
	}
}
