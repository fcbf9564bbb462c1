package herdrun

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
)

// natsBytes sums, over the herd's nodes, the bytes their NATS servers
// sent on routes and on outbound gateways.
func natsBytes(b *testing.B, h *Herd) (routes, gateways int64) {
	b.Helper()
	for _, n := range h.Nodes {
		srv := n.NATS().NATS()
		rz, err := srv.Routez(nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rz.Routes {
			routes += r.OutBytes
		}
		gz, err := srv.Gatewayz(nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range gz.OutboundGateways {
			if g.Connection != nil {
				gateways += g.Connection.OutBytes
			}
		}
	}
	return routes, gateways
}

func startBench(b *testing.B, hf herdfile.Config) *Herd {
	b.Helper()
	ps, err := NewProviders(hf, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ps.Close)
	h, err := Start(context.Background(), hf, nil, ps, Logger(hf.Log, io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitFormed(ctx); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkRegions_FloodBytes floods IAMATs one at a time (each record
// its own flood message) at Berlin of deploy/regions.yaml in one process
// and reports the NATS bytes each costs on the routes inside the regions
// and across the gateways ($SYS server statistics included).
func BenchmarkRegions_FloodBytes(b *testing.B) {
	hf := regionsFile(b)
	h := startBench(b, hf)
	var berlin *node.Node
	for _, n := range h.Nodes {
		if n.Name() == "Berlin" {
			berlin = n
		}
	}
	r0, g0 := natsBytes(b, h)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := dial(b, berlin.ClientAddr())
		fmt.Fprintf(c, "IAMAT bench-%d +1+1 1764537512.%09d\n", i, i)
		c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c)
		c.Close()
		client := fmt.Sprintf("bench-%d", i)
		for _, n := range h.Nodes {
			for deadline := time.Now().Add(5 * time.Second); ; {
				if _, ok := n.Store().Get(client); ok {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s never got %s", n.Name(), client)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	b.StopTimer()
	r1, g1 := natsBytes(b, h)
	b.ReportMetric(float64(r1-r0)/float64(b.N), "route-B/IAMAT")
	b.ReportMetric(float64(g1-g0)/float64(b.N), "gateway-B/IAMAT")
}

// BenchmarkRegions_RepairAcrossGateway measures what anti-entropy moves
// across a gateway to repair records one node missed: two nodes in two
// regions, neighbors, each holding the same records, of which E holds
// missed more; an exchange (started as when a neighbor comes back) makes
// U hold them. It reports the gateway bytes of one exchange per missed
// record: a differing bucket is swapped whole, so the cost grows with the
// store (records / 4,096 buckets).
func BenchmarkRegions_RepairAcrossGateway(b *testing.B) {
	for _, records := range []int{100_000, 1_000_000} {
		for _, missed := range []int{1, 10} {
			b.Run(fmt.Sprintf("records=%d/missed=%d", records, missed), func(b *testing.B) {
				hf, err := herdfile.Parse([]byte(`
antientropy: {interval: 0s}
nodes:
  - {name: E, region: eu, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", gateway: "127.0.0.1:0", neighbors: [U]}
  - {name: U, region: us, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", gateway: "127.0.0.1:0", neighbors: [E]}
`))
				if err != nil {
					b.Fatal(err)
				}
				h := startBench(b, hf)
				e, u := h.Nodes[0], h.Nodes[1]
				for i := range records {
					r, _ := record.Parse(fmt.Appendf(nil, "AT E +0.000123456 client-%07d +12.345678-98.765432 1764537512.%09d", i, i))
					e.Store().Put(r)
					u.Store().Put(r)
				}
				var moved int64
				for i := 0; b.Loop(); i++ {
					for j := range missed {
						r, _ := record.Parse(fmt.Appendf(nil, "AT E +0.000123456 missed-%d-%d +1+1 1764537513.%09d", i, j, j))
						e.Store().Put(r)
					}
					_, g0 := natsBytes(b, h)
					// Dropping and re-adding the neighbor starts an exchange.
					if err := e.SetNeighbors(nil); err != nil {
						b.Fatal(err)
					}
					if err := e.SetNeighbors([]string{"U"}); err != nil {
						b.Fatal(err)
					}
					for deadline := time.Now().Add(10 * time.Second); u.Store().Len() != e.Store().Len(); {
						if time.Now().After(deadline) {
							b.Fatalf("U holds %d records, E %d", u.Store().Len(), e.Store().Len())
						}
						time.Sleep(time.Millisecond)
					}
					_, g1 := natsBytes(b, h)
					moved += g1 - g0
				}
				b.ReportMetric(float64(moved)/float64(b.N*missed), "gateway-B/missed-record")
			})
		}
	}
}
