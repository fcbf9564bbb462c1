package herdrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places/googlefake"
)

// triangleHerd is the herd A–B–C–A on port 0, every node with a monitor
// port, answering WHATSAT from a fake Google server.
func triangleHerd(t *testing.T, fakeURL string) herdfile.Config {
	t.Helper()
	var nodes strings.Builder
	for _, n := range []struct{ name, nbrs string }{{"A", "B, C"}, {"B", "A, C"}, {"C", "A, B"}} {
		fmt.Fprintf(&nodes, `
  - name: %s
    client: 127.0.0.1:0
    nats: 127.0.0.1:0
    cluster: 127.0.0.1:0
    monitor: 127.0.0.1:0
    neighbors: [%s]`, n.name, n.nbrs)
	}
	hf, err := herdfile.Parse([]byte(fmt.Sprintf(`
places:
  provider: google
  base_url: %s
  key_env: TEST_PLACES_KEY
nodes:%s
`, fakeURL, nodes.String())))
	if err != nil {
		t.Fatal(err)
	}
	return hf
}

// Every metric of the README's table, scraped from /metrics of a herd run
// by the code `herd up --chaos` runs (herd file → nodes, the Google
// provider and its resilience layer against a fake, monitor ports), after
// real traffic: client commands at both doors, the flood, refused
// messages, a node stopped by herd chaos and repaired, Places searches
// retried, cached and collapsed. Nothing is counted by calling the
// metrics object.
func TestStart_MetricsTable(t *testing.T) {
	fake := googlefake.NewPlaces(googlefake.Options{APIKey: testKey, Script: []googlefake.Outcome{googlefake.UnknownError}})
	defer fake.Close()
	hf := triangleHerd(t, fake.URL())
	ps := testProviders(t, hf)
	defer ps.Close()
	hf.Chaos = true
	// Periodic rounds often enough that one runs at A while C is stopped:
	// that exchange fails, whatever the start's did (the nodes start at
	// once, so A's first exchanges may or may not find B and C up).
	hf.AntiEntropy.Interval = 200 * time.Millisecond
	const sysPassword = "metrics-test-system-password"
	sec, err := LoadSecurity(hf, func(k string) string {
		if k == "HERD_SYSTEM_PASSWORD" {
			return sysPassword
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := Start(context.Background(), hf, nil, ps, Logger(hf.Log, io.Discard), WithSecurity(sec))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nodes := func() map[string]*node.Node {
		m := map[string]*node.Node{}
		for _, n := range h.Nodes {
			m[n.Name()] = n
		}
		return m
	}
	formed := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for name, n := range nodes() {
			if err := n.WaitClusterFormed(ctx, 2); err != nil {
				t.Fatal(err)
			}
			for _, nb := range hf.Neighbors(name) {
				if err := n.NATS().WaitInterest(ctx, bus.Subject(nb)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	formed()
	a := nodes()["A"]
	holds := func(name, client string) func() bool {
		return func() bool { _, ok := nodes()[name].Store().Get(client); return ok }
	}

	// Commands at A's TCP port (the service's are counted alike, by the
	// same core: node.TestService_Counted); one connection stays open.
	idle := dial(t, a.ClientAddr())
	defer idle.Close()
	c := dial(t, a.ClientAddr())
	fmt.Fprint(c, "IAMAT c1 +34.068930-118.445127 1621464827\nIAMAT c1 +34.068930-118.445127 1621464827\n"+
		"IAMAT c2 +1+1 99999999999999999999\nHELLO\nWHATSAT nobody 10 5\n")
	br := bufio.NewReader(c)
	for range 5 {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprint(c, "IAMAT c4 +1+1 1621464827\n")
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"B", "C"} {
		wait.For(t, name+" holding c1 and c4", func() bool { return holds(name, "c1")() && holds(name, "c4")() })
	}

	// Places: the first upstream attempt fails and is retried; the same
	// search again is a cache hit; five identical searches at B while
	// upstream is held share one call.
	for range 2 {
		fmt.Fprint(c, "WHATSAT c1 10 3\n")
		if r, err := readWhatsat(br); err != nil || !strings.Contains(r, `"status": "OK"`) {
			t.Fatalf("WHATSAT: %q %v", r, err)
		}
	}
	c.Close()
	fake.Hold()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, nodes()["B"].ClientAddr())
			defer c.Close()
			fmt.Fprint(c, "WHATSAT c1 20 2\n")
			readWhatsat(bufio.NewReader(c))
		}()
	}
	wait.For(t, "five WHATSATs at B waiting on one upstream call", func() bool {
		return ps.Stats()[1].Waiting == 5 // providers in start order: A, B, C
	})
	fake.Release()
	wg.Wait()

	// Refused on the bus, over a node's own connection: a sender that is
	// not a neighbor, no headers, a neighbor sending a line that is no
	// record.
	own, err := a.NATS().Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	for _, m := range []struct{ sender, data string }{
		{"Z", "AT Z +0.100000000 z +1+1 1621464827"},
		{"", "AT B +0.100000000 z +1+1 1621464827"},
		{"B", "not a record"},
	} {
		msg := nats.NewMsg(bus.Subject("A"))
		if m.sender != "" {
			msg.Header.Set(bus.HeaderOrigin, m.sender)
			msg.Header.Set(bus.HeaderSender, m.sender)
		}
		msg.Data = []byte(m.data)
		if err := own.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}

	// C is stopped (herd chaos), A takes c3, C comes back: anti-entropy
	// repairs c3.
	cl, err := chaos.Dial(a.NATS().ClientURL(), "sys", sysPassword, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Stop(context.Background(), "C", 0); err != nil {
		t.Fatal(err)
	}
	// Both ends: C lists no route a few milliseconds before A and B do,
	// and a record A sends meanwhile on its end of the route still gets in.
	wait.For(t, "C without routes, and A and B without a route to C", func() bool {
		return len(nodes()["C"].NATS().Peers()) == 0 &&
			!slices.Contains(nodes()["A"].NATS().Peers(), "C") && !slices.Contains(nodes()["B"].NATS().Peers(), "C")
	})
	c3 := dial(t, a.ClientAddr())
	fmt.Fprint(c3, "IAMAT c3 +2+2 1621464828\n")
	if got, err := bufio.NewReader(c3).ReadString('\n'); err != nil || !strings.HasPrefix(got, "AT A ") {
		t.Fatalf("IAMAT c3: %q %v", got, err)
	}
	c3.Close()
	wait.For(t, "B holding c3", holds("B", "c3"))
	failedAtStop := nodetest.Scrape(t, a.MonitorURL()).Value("herd_antientropy_exchanges_total", "result", "failed")
	wait.For(t, "an exchange of A failing while C is stopped", func() bool {
		return nodetest.Scrape(t, a.MonitorURL()).Value("herd_antientropy_exchanges_total", "result", "failed") > failedAtStop
	})
	if holds("C", "c3")() {
		t.Fatal("stopped C got c3")
	}
	// What anti-entropy counted before C comes back: C may have pulled c1
	// or c4 at start (a full exchange can beat the flood), and any node
	// may have found a difference then.
	repairedAtC := func() float64 {
		return nodetest.Scrape(t, nodes()["C"].MonitorURL()).Value("herd_antientropy_repaired_records_total")
	}
	found := func() float64 { // exchanges that found a difference, at A, B and C
		v := 0.0
		for _, n := range nodes() {
			s := nodetest.Scrape(t, n.MonitorURL())
			v += s.Value("herd_antientropy_exchanges_total", "result", "differed") +
				s.Value("herd_antientropy_exchanges_total", "result", "interrupted")
		}
		return v
	}
	repairedBefore, foundBefore := repairedAtC(), found()
	if _, err := cl.Start(context.Background(), "C"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "C repaired", func() bool { return holds("C", "c1")() && holds("C", "c3")() && holds("C", "c4")() })
	// The exchange that repaired c3 is counted when it ends: differed, or
	// interrupted if the routes coming back lost one of its messages
	// after the records went (then it ends at its timeout). C counts the
	// record it stored when it stores it (pushed to it) or when its
	// exchange ends (pulled).
	wait.For(t, "an exchange counted finding C's difference", func() bool { return found() > foundBefore })
	wait.For(t, "C's repair counted", func() bool { return repairedAtC() > repairedBefore })
	formed()

	pid := strconv.Itoa(os.Getpid())
	scrape := map[string]nodetest.Samples{}
	for name, n := range nodes() {
		scrape[name] = nodetest.Scrape(t, n.MonitorURL())
	}
	for _, tt := range []struct {
		node, metric string
		labels       []string
		min, max     float64
	}{
		{"A", "herd_client_commands_total", []string{"command", "iamat", "outcome", "stored"}, 3, 3}, // c1, c4, c3
		{"A", "herd_client_commands_total", []string{"command", "iamat", "outcome", "stale"}, 1, 1},
		{"A", "herd_client_commands_total", []string{"command", "iamat", "outcome", "invalid"}, 1, 1},
		{"A", "herd_client_commands_total", []string{"command", "whatsat", "outcome", "answered"}, 2, 2},
		{"A", "herd_client_commands_total", []string{"command", "whatsat", "outcome", "unknown_client"}, 1, 1},
		{"A", "herd_client_commands_total", []string{"command", "invalid", "outcome", "invalid"}, 1, 1},
		{"A", "herd_client_connections", nil, 1, 1},              // the idle one
		{"A", "herd_client_connections_opened_total", nil, 3, 3}, // idle, c, c3
		{"A", "herd_flood_published_messages_total", []string{"to", "B"}, 1, 3},
		{"A", "herd_flood_published_records_total", []string{"to", "B"}, 3, 3},
		{"B", "herd_flood_relayed_records_total", []string{"to", "A"}, 0, 0}, // never back to the origin
		{"A", "herd_flood_received_records_total", []string{"from", "B", "result", "stored"}, 0, 0},
		{"B", "herd_flood_received_records_total", []string{"from", "A", "result", "stored"}, 1, 3},
		{"B", "herd_flood_relayed_records_total", []string{"to", "C"}, 1, 3},
		{"A", "herd_flood_dropped_records_total", []string{"reason", "queue_full"}, 0, 0},
		{"A", "herd_flood_dropped_records_total", []string{"reason", "publish_failed"}, 0, 0},
		{"A", "herd_flood_dropped_records_total", []string{"reason", "disconnected"}, 0, 0},
		{"A", "herd_nats_limit_hits_total", []string{"kind", "route_slow_consumer"}, 0, 0},
		{"B", "herd_nats_route_closed_total", nil, 1, 100}, // C stopped: its routes closed
		{"A", "herd_flood_invalid_total", []string{"from", "other", "reason", "not_neighbor"}, 1, 1},
		{"A", "herd_flood_invalid_total", []string{"from", "other", "reason", "bad_headers"}, 1, 1},
		{"A", "herd_flood_invalid_total", []string{"from", "B", "reason", "bad_record"}, 1, 1},
		{"B", "herd_flood_latency_seconds_count", nil, 1, 6},
		{"A", "herd_records", nil, 3, 3},
		{"C", "herd_records", nil, 3, 3},
		{"C", "herd_antientropy_repaired_records_total", nil, repairedBefore + 1, repairedBefore + 1}, // c3 (checked above)
		// C and its neighbors sync when their routes come back: whoever
		// asks first finds the difference (checked above, summed).
		{"C", "herd_antientropy_exchanges_total", []string{"result", "differed"}, 0, 10},
		{"C", "herd_antientropy_exchanges_total", []string{"result", "interrupted"}, 0, 10},
		{"B", "herd_antientropy_exchanges_total", []string{"result", "in_sync"}, 1, 100},
		{"A", "herd_antientropy_exchanges_total", []string{"result", "failed"}, 1, 1000}, // C stopped (and maybe B and C not up at A's start)
		{"A", "herd_places_calls_total", []string{"status", "OK"}, 2, 2},
		{"A", "herd_places_upstream_duration_seconds_count", []string{"status", "UNKNOWN_ERROR"}, 1, 1},
		{"A", "herd_places_upstream_duration_seconds_count", []string{"status", "OK"}, 1, 1},
		{"A", "herd_places_retries_total", nil, 1, 1},
		{"A", "herd_places_upstream_searches_total", nil, 1, 1},
		{"A", "herd_places_cache_misses_total", nil, 1, 1},
		{"A", "herd_places_cache_hits_total", nil, 1, 1},
		{"A", "herd_places_cache_entries", nil, 1, 1},
		{"A", "herd_places_upstream_in_flight", nil, 0, 0},
		{"B", "herd_places_collapsed_calls_total", nil, 4, 4},
		// The process's (shared by the three nodes): labelled by pid, not node.
		{"A", "process_cpu_seconds_total", []string{"pid", pid}, 1e-3, 1e6},
		{"B", "process_resident_memory_bytes", []string{"pid", pid}, 1 << 20, 1 << 40},
		{"C", "go_cpu_classes_gc_total_cpu_seconds_total", []string{"pid", pid}, 0, 1e6},
	} {
		scrape[tt.node].Want(t, tt.node, tt.metric, tt.labels, tt.min, tt.max)
	}
	// A floods c1 and c4 to B and C, which relay them to each other: at
	// each record, B or C (or both) receives one copy after it stored the
	// record (by the flood or by a full exchange at start). Which one
	// depends on which copy wins the race, so the two are summed.
	if stale := scrape["B"].Value("herd_flood_received_records_total", "result", "stale") +
		scrape["C"].Value("herd_flood_received_records_total", "result", "stale"); stale < 2 || stale > 9 {
		t.Errorf("herd_flood_received_records_total{result=stale} at B and C = %v, want 2..9 (c1 and c4 at least once each)", stale)
	}
	if scrape["A"].Has("process_cpu_seconds_total", "node", "A") {
		t.Error("process metrics labelled by node: a process's CPU would count once per node")
	}
}
