package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/service"
)

func monitorOn(_ string, c *node.Config) { c.MonitorAddr = "127.0.0.1:0" }

// get fetches path from a node's monitor port.
func get(t *testing.T, n *node.Node, path string) (int, []byte) {
	t.Helper()
	return nodetest.Get(t, n.MonitorURL()+path)
}

// scrape reads a node's /metrics.
func scrape(t *testing.T, n *node.Node) nodetest.Samples {
	t.Helper()
	return nodetest.Scrape(t, n.MonitorURL())
}

// After known traffic at A, the counters of A, B and C say exactly what
// happened: commands by outcome at A, the flood A→B→C, records held.
//
// Anti-entropy's start-up exchanges (a full compare with each neighbor,
// retried until the neighbor's subscription is known) may still run while
// the first traffic floods. One that lands while a record is between two
// nodes carries it first, and the flood's copy then arrives stale: the
// herd working as designed, but not the flood this test counts. Such a
// round is counted as interfered with, and the traffic is sent again with
// new clients once the round's flood is over; every round is judged by
// the counters' changes over it.
func TestNode_Metrics(t *testing.T) {
	h := startHerd(t, nodetest.Line3, monitorOn)
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		if metricsRound(t, h, round) {
			return
		}
		t.Logf("round %d: anti-entropy carried a record before the flood; again", round)
	}
	t.Fatalf("anti-entropy took part in all %d rounds", rounds)
}

// metricsRound sends the traffic of TestNode_Metrics with clients named
// after round, waits until its flood is over, and checks what every
// counter gained. It returns false, checking nothing, when anti-entropy
// repaired a record at B or C during the round.
func metricsRound(t *testing.T, h *nodetest.Herd, round int) bool {
	t.Helper()
	before := map[string]nodetest.Samples{}
	for _, name := range []string{"A", "B", "C"} {
		before[name] = scrape(t, h.Node(name))
	}
	c1, c2, c3 := fmt.Sprintf("c1r%d", round), fmt.Sprintf("c2r%d", round), fmt.Sprintf("c3r%d", round)
	reply := h.Send("A",
		"IAMAT "+c1+" +1+1 100",
		"IAMAT "+c1+" +1+1 100", // the same record again: stale
		"IAMAT "+c2+" +1+1 100",
		"IAMAT "+c3+" +1+1 99999999999999999999", // too far from the clock
		"WHATSAT "+c1+" 10 5",
		"WHATSAT nobody 10 5",
		"HELLO",
	)
	if got := strings.Count(reply, "\n? "); got != 3 {
		t.Fatalf("want 3 refusals, reply:\n%s", reply)
	}
	h.WaitRecord(c2, strings.Split(reply, "\n")[2], "A", "B", "C")

	// gained is what a counter of node gained since the round began.
	gained := func(node, name string, labels ...string) float64 {
		return scrape(t, h.Node(node)).Value(name, labels...) - before[node].Value(name, labels...)
	}
	// The round's flood is over when B has both of A's copies and C has
	// every copy B relayed; whatever came first, nothing more is coming.
	wait.Check(t, wait.Timeout, "the round's flood to end", func() error {
		fromA := gained("B", "herd_flood_received_records_total", "from", "A")
		relayed, fromB := gained("B", "herd_flood_relayed_records_total", "to", "C"), gained("C", "herd_flood_received_records_total", "from", "B")
		if fromA != 2 || fromB != relayed {
			return fmt.Errorf("B received %v of A's 2, C received %v of the %v B relayed", fromA, fromB, relayed)
		}
		return nil
	})
	if gained("B", "herd_antientropy_repaired_records_total") > 0 || gained("C", "herd_antientropy_repaired_records_total") > 0 {
		return false
	}

	for _, tt := range []struct {
		command, outcome string
		want             float64
	}{
		{"iamat", "stored", 2}, {"iamat", "stale", 1}, {"iamat", "invalid", 1},
		{"whatsat", "answered", 1}, {"whatsat", "unknown_client", 1},
		{"invalid", "invalid", 1}, {"whatsat", "invalid", 0},
	} {
		if got := gained("A", "herd_client_commands_total", "command", tt.command, "outcome", tt.outcome, "node", "A"); got != tt.want {
			t.Errorf("A commands %s/%s gained %v, want %v", tt.command, tt.outcome, got, tt.want)
		}
	}
	checks := []struct {
		node, name string
		labels     []string
		want       float64
	}{
		{"A", "herd_client_connections_opened_total", nil, 1},
		{"A", "herd_places_calls_total", []string{"status", "ZERO_RESULTS"}, 1},
		{"A", "herd_flood_published_records_total", []string{"to", "B"}, 2},
		{"A", "herd_flood_relayed_records_total", nil, 0},
		{"A", "herd_records", nil, 2},
		{"B", "herd_flood_received_records_total", []string{"from", "A", "result", "stored"}, 2},
		{"B", "herd_flood_relayed_records_total", []string{"to", "C"}, 2},
		{"B", "herd_flood_published_records_total", []string{"to", "A"}, 0}, // never back to the origin
		{"B", "herd_flood_latency_seconds_count", nil, 2},
		{"B", "herd_records", nil, 2},
		{"C", "herd_flood_received_records_total", []string{"from", "B", "result", "stored"}, 2},
		{"C", "herd_flood_published_records_total", nil, 0},
		{"C", "herd_records", nil, 2},
	}
	for _, c := range checks {
		if got := gained(c.node, c.name, c.labels...); got != c.want {
			t.Errorf("%s %s%v gained %v, want %v", c.node, c.name, c.labels, got, c.want)
		}
	}
	return true
}

// /routez and /varz are nats-server's own, served on the node's port.
func TestNode_MonitorNATSEndpoints(t *testing.T) {
	h := startHerd(t, nodetest.Line3, monitorOn)
	code, body := get(t, h.Node("B"), "/routez")
	if code != http.StatusOK {
		t.Fatalf("/routez: %d", code)
	}
	var rz struct {
		Name   string `json:"server_name"`
		Routes []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &rz); err != nil {
		t.Fatal(err)
	}
	var remotes []string
	for _, r := range rz.Routes {
		if !slices.Contains(remotes, r.RemoteName) {
			remotes = append(remotes, r.RemoteName)
		}
	}
	slices.Sort(remotes)
	if rz.Name != "B" || !slices.Equal(remotes, []string{"A", "C"}) {
		t.Fatalf("routez of B: server %q, remotes %v", rz.Name, remotes)
	}
	for _, path := range []string{"/varz", "/connz", "/subsz", "/nats/routez", "/nats/healthz"} {
		if code, body := get(t, h.Node("A"), path); code != http.StatusOK || !json.Valid(body) {
			t.Errorf("GET %s: %d %.100s", path, code, body)
		}
	}
}

// /healthz fails while a configured neighbor's route is down, naming it,
// and recovers when the neighbor is back; NATS's own healthz stays ok.
func TestNode_Healthz(t *testing.T) {
	topo := map[string][]string{"A": {"B", "C"}, "B": {"A"}, "C": {"A"}}
	h := startHerd(t, topo, monitorOn)
	a := h.Node("A")
	health := func() (int, node.Health) {
		code, body := get(t, a, "/healthz")
		var hz node.Health
		if err := json.Unmarshal(body, &hz); err != nil {
			t.Fatalf("/healthz body %q: %v", body, err)
		}
		return code, hz
	}
	if code, hz := health(); code != http.StatusOK || hz.Status != node.HealthOK {
		t.Fatalf("formed herd: %d %+v", code, hz)
	}
	h.Stop("C")
	var hz node.Health
	wait.For(t, "A unhealthy", func() bool {
		var code int
		code, hz = health()
		return code == http.StatusServiceUnavailable
	})
	if hz.Status != node.HealthUnavailable || !slices.Equal(hz.Missing, []string{"C"}) {
		t.Fatalf("with C down: %+v", hz)
	}
	if code, _ := get(t, a, "/nats/healthz"); code != http.StatusOK {
		t.Fatalf("NATS healthz with C down: %d", code)
	}
	h.StartNode("C")
	wait.For(t, "A healthy again", func() bool {
		code, _ := health()
		return code == http.StatusOK
	})
}

// With a log file, every client input and output and every connection
// opened and closed is in it, while the console logger stays quiet.
func TestNode_LogFile(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "A.log")
			h := startHerd(t, map[string][]string{"A": nil}, func(_ string, c *node.Config) {
				c.LogFile, c.LogFileFormat = path, format
			})
			reply := h.Send("A", "IAMAT c +1+1 100", "WHATSAT c 10 5", "HELLO there")
			at, _, _ := strings.Cut(reply, "\n")
			nc, err := nats.Connect(h.Node("A").NATS().ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Request(service.SubjectWHATSAT, []byte("WHATSAT c 1 1"), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := h.Node("A").Close(); err != nil { // flushes the file
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var events []string // msg and its text, in file order
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				events = append(events, logEvent(t, format, l)...)
			}
			want := []string{
				"connection opened",
				"input IAMAT c +1+1 100", "output " + at,
				"input WHATSAT c 10 5",
				"input HELLO there", "output ? HELLO there",
				"output " + at + "\n{", // the WHATSAT reply, when its lookup is done
				"connection closed",
				"service input", "service output", // the NATS door's traffic too
			}
			for _, w := range want {
				if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, w) }) {
					t.Errorf("log file lacks %q; it has:\n%s", w, data)
				}
			}
		})
	}
}

// logEvent decodes a log line into "msg text" for client traffic
// events, "msg" for the others.
func logEvent(t *testing.T, format, line string) []string {
	t.Helper()
	var m map[string]any
	if format == "json" {
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
	} else {
		m = parseText(line)
	}
	msg, _ := m["msg"].(string)
	if l, ok := m["line"].(string); ok {
		return []string{msg + " " + l}
	}
	if l, ok := m["text"].(string); ok {
		return []string{msg + " " + l}
	}
	return []string{msg}
}

// parseText reads key=value pairs of slog's text format, unquoting values.
func parseText(line string) map[string]any {
	m := map[string]any{}
	for line != "" {
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		m[k] = v
		line = strings.TrimLeft(rest, " ")
	}
	return m
}

// A publish queue that overflows loses records to the flood, each counted
// as queue_full: every record A stored was either published to B (its
// one neighbor) or dropped, and some were dropped.
func TestNode_FloodDropsCounted(t *testing.T) {
	const n = 3000
	h := startHerd(t, map[string][]string{"A": {"B"}, "B": {"A"}}, monitorOn, func(_ string, c *node.Config) {
		c.Bus.QueueLen = 1
	})
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("IAMAT c%d +1+1 1621464827", i)
	}
	h.Send("A", lines...)
	var published, dropped float64
	wait.For(t, "every record published or dropped", func() bool {
		ss := scrape(t, h.Node("A"))
		published = ss.Value("herd_flood_published_records_total", "to", "B")
		dropped = ss.Value("herd_flood_dropped_records_total", "reason", "queue_full")
		return published+dropped == n
	})
	if dropped == 0 {
		t.Fatalf("%v of %d records published through a queue of 1, none dropped", published, n)
	}
	t.Logf("%v published, %v dropped", published, dropped)
}
