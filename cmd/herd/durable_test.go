package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdhq/herd/cmd/internal/herdrun"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// durableHerdFile is the built-in herd file on free ports with
// storage.fsync set.
func durableHerdFile(t *testing.T, fsync string) string {
	t.Helper()
	path := herdFile(t, true)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(data), "fsync: everysec", "fsync: "+fsync, 1)
	if !strings.Contains(out, "fsync: "+fsync) {
		t.Fatal("the built-in herd file has no storage.fsync to set")
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ack is an acknowledged IAMAT: its client time, and when the reply came.
type ack struct {
	tm int64
	at time.Time
}

// pacedLoad sends IAMATs to every node at a steady rate, each node its own
// clients with strictly increasing times, and keeps every acknowledgement.
type pacedLoad struct {
	mu   sync.Mutex // guards acks
	acks map[string][]ack
	wg   sync.WaitGroup
}

const loadClientsPerNode = 40

// startLoad sends one IAMAT every interval to each node until its
// connection fails (the herd is killed) or ctx ends.
func startLoad(ctx context.Context, t *testing.T, addrs map[string]string, interval time.Duration) *pacedLoad {
	t.Helper()
	l := &pacedLoad{acks: map[string][]ack{}}
	for name, addr := range addrs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(2)
		go func() { // replies
			defer l.wg.Done()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 6 || f[0] != "AT" {
					continue
				}
				tm, _ := strconv.ParseInt(f[5], 10, 64)
				l.mu.Lock()
				l.acks[f[3]] = append(l.acks[f[3]], ack{tm, time.Now()})
				l.mu.Unlock()
			}
		}()
		go func() { // requests
			defer l.wg.Done()
			defer c.Close()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for seq := int64(0); ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				line := fmt.Sprintf("IAMAT kill-%s-%d +34.068930-118.445127 %d\n", name, seq%loadClientsPerNode, 1700000000+seq)
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}()
	}
	return l
}

// total is the number of IAMATs acknowledged.
func (l *pacedLoad) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, as := range l.acks {
		n += len(as)
	}
	return n
}

// oldest is when the first IAMAT was acknowledged.
func (l *pacedLoad) oldest() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, as := range l.acks {
		if len(as) > 0 && (first.IsZero() || as[0].at.Before(first)) {
			first = as[0].at
		}
	}
	return first
}

// want is, per client, the newest client time acknowledged by cutoff.
func (l *pacedLoad) want(cutoff time.Time) map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for client, as := range l.acks {
		for _, a := range as {
			if !a.at.After(cutoff) && a.tm > out[client] {
				out[client] = a.tm
			}
		}
	}
	return out
}

// storedTimes asks addr for every client's record (pipelined WHATSATs on
// one connection) and returns the client time of each one held.
func storedTimes(t *testing.T, addr string, clients []string) map[string]int64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		var b strings.Builder
		for _, cl := range clients {
			fmt.Fprintf(&b, "WHATSAT %s 0.01 1\n", cl)
		}
		c.Write([]byte(b.String()))
		c.(*net.TCPConn).CloseWrite()
	}()
	out := map[string]int64{}
	br := bufio.NewReader(c)
	for range clients {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read WHATSAT replies from %s: %v", addr, err)
		}
		if strings.HasPrefix(line, "? ") {
			continue // no record
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("WHATSAT reply %q", line)
		}
		out[f[3]], _ = strconv.ParseInt(f[5], 10, 64)
		for { // the JSON, up to the blank line
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read WHATSAT reply from %s: %v", addr, err)
			}
			if l == "\n" {
				break
			}
		}
	}
	return out
}

// missing lists the clients whose record at addr is older than want's.
func missing(t *testing.T, addr string, want map[string]int64) []string {
	t.Helper()
	clients := make([]string, 0, len(want))
	for c := range want {
		clients = append(clients, c)
	}
	got := storedTimes(t, addr, clients)
	var miss []string
	for c, tm := range want {
		if got[c] < tm {
			miss = append(miss, fmt.Sprintf("%s (holds %d, acknowledged %d)", c, got[c], tm))
		}
	}
	return miss
}

// originOf is the node a load client's IAMATs went to.
func originOf(client string) string { return strings.Split(client, "-")[1] }

var nodeUpRE = regexp.MustCompile(`^node (\w+) up: client (\S+),`)

// The whole herd killed (SIGKILL of `herd up`, all five nodes at once)
// under a paced load of IAMATs at every node, then started again on the
// same directories. fsync always: every acknowledged IAMAT is on its
// origin's disk — each node started alone, before any neighbor could
// repair it, holds its own — and, once the herd is up again and
// anti-entropy has run, on every node. fsync everysec: the same for every
// IAMAT acknowledged at least a second before the kill.
func TestHerdUp_KillDurable(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			file, data := durableHerdFile(t, fsync), t.TempDir()
			p := startProc(t, "up", "--config", file, "--data", data)
			p.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
			addrs := map[string]string{}
			for len(addrs) < 5 {
				m := p.waitLine(t, tableRE)
				addrs[m[1]] = m[2]
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			load := startLoad(ctx, t, addrs, 2*time.Millisecond) // 2,500 IAMAT/s in all
			// What must survive is what was acknowledged by lag before the
			// kill. Kill once at least 1.5 s of load ran and half the
			// clients were acknowledged by then: on a loaded machine the
			// first acknowledgements come late (once 81 clients only, 1 s
			// before a kill timed from the first).
			var lag time.Duration
			if fsync == "everysec" {
				lag = time.Second
			}
			const minClients = 5 * loadClientsPerNode / 2
			wait.Within(t, 30*time.Second, "1.5 s of load, half the clients acknowledged by the cutoff", func() bool {
				first := load.oldest()
				return !first.IsZero() && time.Since(first) > 1500*time.Millisecond &&
					len(load.want(time.Now().Add(-lag))) >= minClients
			})
			killed := time.Now()
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-p.exited
			cancel()
			load.wg.Wait()
			cutoff := killed.Add(-lag)
			want := load.want(cutoff)
			t.Logf("%d IAMATs acknowledged before the kill; checking the newest of %d clients acknowledged by %v before it",
				load.total(), len(want), lag)

			if fsync == "always" {
				// Every node alone (the herd file without its edges, the
				// same directories), run by the code `herd node` runs:
				// what it holds came from its own disk.
				alone := startAlone(t, file, data)
				for _, n := range alone.Nodes {
					own := map[string]int64{}
					for c, tm := range want {
						if originOf(c) == n.Name() {
							own[c] = tm
						}
					}
					if miss := missing(t, n.ClientAddr(), own); len(miss) > 0 {
						t.Errorf("%s alone lacks %d of its %d acknowledged clients: %v", n.Name(), len(miss), len(own), miss)
					}
				}
				if err := alone.Close(); err != nil {
					t.Fatal(err)
				}
			}

			p2 := startProc(t, "up", "--config", file, "--data", data)
			p2.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
			for name, addr := range addrs {
				var miss []string
				wait.Within(t, 30*time.Second, name+" holding every acknowledged IAMAT", func() bool {
					miss = missing(t, addr, want)
					return len(miss) == 0
				})
			}
			p2.stopQuietly(t)
		})
	}
}

var neighborsRE = regexp.MustCompile(`neighbors: \[[^\]]*\]`)

// startAlone runs every node of file with storage in data, in this
// process as `herd node` runs each, but without the herd file's edges:
// no node has a neighbor to flood to or repair from.
func startAlone(t *testing.T, file, data string) *herdrun.Herd {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := herdfile.Parse(neighborsRE.ReplaceAll(src, []byte("neighbors: []")))
	if err != nil {
		t.Fatal(err)
	}
	hf.Storage.Dir = data
	getenv := func(string) string { return "" }
	sec, err := herdrun.LoadSecurity(hf, getenv)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := herdrun.NewProviders(hf, getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	h, err := herdrun.Start(t.Context(), hf, nil, ps, slog.New(slog.DiscardHandler), herdrun.WithSecurity(sec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
