package live_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herdhq/herd/node/nodetest"
)

// BenchmarkLive_IAMATThroughput measures what an open page costs the herd:
// a five-node herd under pipelined IAMAT load (every IAMAT a new record,
// so every one floods), with no viewer and with the page open in headless
// chromium (or, where chromium is missing, a Go event-stream reader).
// It reports the IAMAT/s answered and this process's CPU time per IAMAT
// (the herd and the load generator; chromium is another process, as it
// is on an operator's machine). Run the variants alternately, e.g.
//
//	go test -run '^$' -bench IAMATThroughput -benchtime 1x -count 3 ./node/live
//
// HERD_LOAD_SECONDS sets the load's length (default 10); HERD_LOAD_RATE
// offers that many IAMAT/s instead of as many as the herd takes (0).
func BenchmarkLive_IAMATThroughput(b *testing.B) {
	secs, rate := envInt("HERD_LOAD_SECONDS", 10), envInt("HERD_LOAD_RATE", 0)
	for _, viewer := range []bool{false, true} {
		b.Run(fmt.Sprintf("viewer=%v", viewer), func(b *testing.B) {
			for range b.N {
				h := startHerd(b, defaultTopology)
				if viewer {
					watch(b, h)
				}
				cpu0 := cpuTime()
				n := load(b, h, time.Duration(secs)*time.Second, rate)
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(n)/float64(secs), "iamat/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(max(n, 1)), "cpu-µs/iamat")
			}
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// watch opens Goloman's page in chromium until the benchmark ends, or
// reads its event stream in Go when no browser is installed.
func watch(b *testing.B, h *nodetest.Herd) {
	b.Helper()
	page := h.Node("Goloman").MonitorURL() + "/"
	if os.Getenv("HERD_BENCH_NO_BROWSER") == "" {
		nodeBin, chromium, missing := findBrowser()
		if missing == "" {
			d := startDriver(b, nodeBin, chromium, page, b.TempDir(), "watch")
			d.send(map[string]any{"cmd": "expect", "nodes": len(h.Topo), "edges": len(nodetest.Topology(h.Topo).Edges)})
			d.step("ready")
			b.Cleanup(func() {
				d.stdin.Close()
				if m, ok := <-d.steps; ok {
					b.Logf("the page drew %v frames", m["frames"])
				}
			})
			return
		}
		b.Logf("%s: a Go client reads the event stream instead", missing)
	}
	s := nodetest.OpenStream(b, h.Node("Goloman").MonitorURL())
	s.Next() // hello
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := s.Reader().ReadString('\n'); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { s.Close(); <-done })
}

// load runs pipelined IAMATs over two connections per node for d and
// returns how many were answered. rate > 0 paces them to rate per second
// in all; 0 sends as fast as the herd answers.
func load(b *testing.B, h *nodetest.Herd, d time.Duration, rate int) int64 {
	b.Helper()
	var answered atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, name := range h.Live() {
		for j := range 2 {
			c, err := net.Dial("tcp", h.Node(name).ClientAddr())
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(2)
			window := make(chan struct{}, 8) // batches in flight per connection
			go func() {                      // replies
				defer wg.Done()
				rd := bufio.NewReaderSize(c, 64<<10)
				n := 0
				for {
					if _, err := rd.ReadSlice('\n'); err != nil {
						return
					}
					answered.Add(1)
					if n++; n%batch == 0 {
						<-window
					}
				}
			}()
			go func() { // requests
				defer wg.Done()
				defer c.(*net.TCPConn).CloseWrite()
				buf := make([]byte, 0, batch*80)
				base := time.Now().Unix()
				start, conns := time.Now(), 2*len(h.Live())
				for k := 0; time.Now().Before(stop); k++ {
					if rate > 0 { // batch k is due at k*batch*conns/rate
						time.Sleep(time.Until(start.Add(time.Duration(k*batch*conns) * time.Second / time.Duration(rate))))
					}
					window <- struct{}{}
					buf = buf[:0]
					for m := range batch {
						buf = fmt.Appendf(buf, "IAMAT c%d-%d-%d +34.068930-118.445127 %d.%09d\n",
							i, j, (k*batch+m)%5000, base, k*batch+m)
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return answered.Load()
}

const batch = 100
