package chaos_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
)

// BenchmarkSyncInSync measures what anti-entropy costs a herd that is in
// sync: the five nodes hold 100,000 clients each, nothing changes, and
// every node's routes count the bytes they send (nats-server's routez)
// over a 30 s window. The
// herd with periodic exchanges off measures what NATS itself sends over
// routes meanwhile (system account heartbeats, pings); the difference is
// the cost of anti-entropy at the default SyncInterval (5 s ± 20%).
// Run it with -benchtime=1x.
func BenchmarkSyncInSync(b *testing.B) {
	for _, interval := range []time.Duration{0, 5 * time.Second} {
		b.Run(fmt.Sprintf("SyncInterval=%s", interval), func(b *testing.B) {
			benchInSync(b, func(c *node.Config) { c.AntiEntropy.Interval = interval })
		})
	}
}

func benchInSync(b *testing.B, mod func(*node.Config)) {
	const clients = 100_000
	const window = 30 * time.Second
	h := startHerd(b, defaultTopology, mod)
	c, err := net.Dial("tcp", h.Node("Goloman").ClientAddr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go func() {
		w := bufio.NewWriter(c)
		for i := range clients {
			fmt.Fprintf(w, "IAMAT client-%06d.example.org +34.068930-118.445127 1621464827.%09d\n", i, i)
		}
		w.Flush()
	}()
	br := bufio.NewReader(c)
	for range clients {
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "AT ") {
			b.Fatalf("reply %q, %v", line, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, name := range h.Live() {
		for h.Node(name).Store().Len() != clients {
			if time.Now().After(deadline) {
				b.Fatalf("%s holds %d clients", name, h.Node(name).Store().Len())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // let in-flight exchanges finish
	for b.Loop() {
		before := routeBytes(b, h)
		time.Sleep(window)
		total := float64(routeBytes(b, h)-before) / window.Seconds()
		b.ReportMetric(total, "route-B/s")
		// Every byte leaves one node and enters another.
		b.ReportMetric(2*total/float64(len(h.Live())), "B/s/node")
	}
}

// routeBytes is what every node of h has sent over its routes: each byte
// between two nodes counted once, by the node that sent it.
func routeBytes(b *testing.B, h *nodetest.Herd) int64 {
	var n int64
	for _, name := range h.Live() {
		rz, err := h.Node(name).NATS().NATS().Routez(nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rz.Routes {
			n += r.OutBytes
		}
	}
	return n
}
