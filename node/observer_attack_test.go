package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/service"
)

// The attacks of issue 19, each against a running herd and through the
// doors an outsider has: the NATS client port without credentials and
// the client port.

// attacker is a connection to a node's NATS port speaking the protocol
// by hand, as an attacker would.
type attacker struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// attack connects to n's NATS port as name. rcvbuf, if positive, shrinks
// the socket's receive buffer, for an attacker that never reads.
func attack(t *testing.T, n *node.Node, name string, rcvbuf int) *attacker {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", strings.TrimPrefix(n.NATS().ClientURL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a := &attacker{t: t, conn: c, br: bufio.NewReaderSize(c, 64<<10)}
	a.send(fmt.Sprintf(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1,"name":%q}`+"\r\nPING\r\n", name))
	if got := a.untilPong(); len(got) != 0 {
		t.Fatalf("CONNECT answered %q", got)
	}
	return a
}

func (a *attacker) send(s string) {
	a.t.Helper()
	a.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(a.conn, s); err != nil {
		a.t.Fatalf("attacker write: %v", err)
	}
}

// untilPong returns the lines up to the next PONG, without INFO updates.
func (a *attacker) untilPong() []string {
	a.t.Helper()
	var lines []string
	for {
		a.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		l, err := a.br.ReadString('\n')
		if err != nil {
			a.t.Fatalf("attacker read: %v", err)
		}
		switch l = strings.TrimRight(l, "\r\n"); {
		case l == "PONG":
			return lines
		case l == "PING":
			a.send("PONG\r\n")
		case !strings.HasPrefix(l, "INFO "):
			lines = append(lines, l)
		}
	}
}

// conns returns n's open NATS client connections by name.
func conns(t *testing.T, n *node.Node) map[string]*natsserver.ConnInfo {
	t.Helper()
	cz, err := n.NATS().NATS().Connz(&natsserver.ConnzOptions{Limit: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*natsserver.ConnInfo{}
	for _, c := range cz.Conns {
		m[c.Name] = c
	}
	return m
}

// hoarded counts the subscriptions to herd.zz.* of n's own clients.
func hoarded(t *testing.T, n *node.Node) int {
	t.Helper()
	sz, err := n.NATS().NATS().Subsz(&natsserver.SubszOptions{Subscriptions: true, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, s := range sz.Subs {
		if strings.HasPrefix(s.Subject, "herd.zz.") {
			c++
		}
	}
	return c
}

// limitHits is herd_nats_limit_hits_total{kind} of n, scraped from its
// /metrics.
func limitHits(t *testing.T, n *node.Node, kind string) int {
	t.Helper()
	ss := scrape(t, n)
	if !ss.Has("herd_nats_limit_hits_total", "kind", kind) {
		t.Fatalf("%s /metrics has no herd_nats_limit_hits_total for %s", n.Name(), kind)
	}
	return int(ss.Value("herd_nats_limit_hits_total", "kind", kind))
}

// Ten connections per node try to join the service's queue group, as in
// the issue (which then lost 46 of 50 requests); every one is refused,
// and all 50 requests another client sends are answered and stored.
func TestHerd_observerCannotTakeServiceRequests(t *testing.T) {
	h := startHerd(t, nodetest.DefaultTopology)
	for _, name := range h.Live() {
		thief := attack(t, h.Node(name), "thief", 0)
		var subs strings.Builder
		for i := range 10 {
			fmt.Fprintf(&subs, "SUB %s %s %d\r\nSUB %s %s %d\r\n",
				service.SubjectIAMAT, service.QueueGroup, 2*i+1, service.SubjectWHATSAT, service.QueueGroup, 2*i+2)
		}
		thief.send(subs.String() + "PING\r\n")
		refused := thief.untilPong()
		if len(refused) != 20 || !strings.HasPrefix(refused[0], "-ERR 'Permissions Violation for Subscription to \"herd.iamat\" using queue \"herd\"") {
			t.Errorf("%s answered the queue subscriptions with %q, want 20 permission violations", name, refused)
		}
		// nats.go sees the same refusal.
		errs := make(chan error, 1)
		nc, err := nats.Connect(h.Node(name).NATS().ClientURL(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.QueueSubscribe(service.SubjectIAMAT, service.QueueGroup, func(m *nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") {
				t.Errorf("%s: nats.go queue subscription: %v", name, err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("%s: nats.go queue subscription on %s accepted", name, service.SubjectIAMAT)
		}
	}

	caller, err := nats.Connect(h.Node("Welsh").NATS().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	const requests = 50
	for i := range requests {
		client := fmt.Sprintf("victim%d", i)
		data, code := request(t, caller, service.SubjectIAMAT,
			fmt.Sprintf(`{"client":%q,"location":"+34.068930-118.445127","time":"1621464827.%d"}`, client, i))
		var reply struct {
			AT     string `json:"at"`
			Stored bool   `json:"stored"`
		}
		if err := json.Unmarshal([]byte(data), &reply); err != nil || code != "" || !reply.Stored {
			t.Fatalf("request %d: %s (code %q, %v)", i, data, code, err)
		}
		h.WaitRecord(client, reply.AT, h.Live()...)
	}
	data, code := request(t, caller, service.SubjectWHATSAT, `{"client":"victim7","radius":10,"limit":5}`)
	if code != "" || !strings.Contains(data, "victim7") {
		t.Fatalf("whatsat: %s (code %q)", data, code)
	}
}

// 50,000 subscriptions on one connection (the second attack grew
// the herd by 260 MB): the node keeps the first limits.observers
// subscriptions, refuses the rest with an error, reports the refusal in
// /metrics, and the herd's heap does not grow with the attempts.
func TestHerd_observerSubscriptionFlood(t *testing.T) {
	h := startHerd(t, nodetest.DefaultTopology, monitorOn)
	n := h.Node("Goloman")
	limit := embeddednats.DefaultObserverLimits().Subscriptions
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	a := attack(t, n, "hoarder", 0)
	const attempts = 50_000
	var b strings.Builder
	for i := range attempts {
		fmt.Fprintf(&b, "SUB herd.zz.%d %d\r\n", i, i+1)
	}
	go a.send(b.String() + "PING\r\n") // the node answers while it reads
	refused := a.untilPong()
	if len(refused) != attempts-limit || refused[0] != "-ERR 'maximum subscriptions exceeded'" {
		t.Errorf("%d refusals (%.60q), want %d 'maximum subscriptions exceeded'", len(refused), refused, attempts-limit)
	}
	if got := hoarded(t, n); got != limit {
		t.Errorf("Goloman holds %d of the hoarder's subscriptions, want the limit %d", got, limit)
	}
	// Every node holds the hoarder's interest once per subscription kept.
	if c := conns(t, n)["hoarder"]; c == nil || int(c.NumSubs) != limit {
		t.Errorf("hoarder has %d subscriptions, want connected with %d", c.NumSubs, limit)
	}
	subject := fmt.Sprintf("herd.zz.%d", limit-1)
	for _, name := range h.Live() {
		if err := h.Node(name).NATS().WaitInterest(t.Context(), subject); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Neither the first refused subscription nor the last is held
		// anywhere, here or learned over a route.
		acc, err := h.Node(name).NATS().NATS().LookupAccount(embeddednats.Account)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{limit, attempts - 1} {
			if got := acc.Interest(fmt.Sprintf("herd.zz.%d", i)); got != 0 {
				t.Errorf("%s holds %d subscriptions to the refused herd.zz.%d", name, got, i)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d -> %d MiB (%+d KiB) for %d subscription attempts on a 5-node herd", before.HeapAlloc>>20, after.HeapAlloc>>20, grew>>10, attempts)
	// Without the limit the 50,000 subscriptions cost well over 100 MiB
	// here (every node holds them); with it, a few MiB.
	if grew > 32<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
	if got := limitHits(t, n, "subscriptions"); got < 1 {
		t.Errorf("subscription refusals counted %d, want at least 1", got)
	}
}

// Observers that subscribe to herd.> and never read, under flood traffic
// (the third attack grew the herd by 500 MB): each is cut as a
// slow consumer before the node queued more than limits.observers
// pending_bytes for it; the node's own connections stay, the flood goes
// on, and /metrics counts the cuts.
func TestHerd_slowObserversCut(t *testing.T) {
	pending := embeddednats.DefaultObserverLimits().PendingBytes
	h := startHerd(t, nodetest.DefaultTopology, monitorOn)
	welsh := h.Node("Welsh")
	own := conns(t, welsh)
	const sleepers = 3
	for i := range sleepers {
		a := attack(t, welsh, fmt.Sprint("sleeper", i), 4096)
		a.send("SUB herd.> 1\r\nPING\r\n")
		if got := a.untilPong(); len(got) != 0 {
			t.Fatalf("SUB herd.> answered %q", got)
		}
	}
	// Flood: IAMATs at Goloman with long client names; every hop of each
	// reaches Welsh's observers.
	c, err := net.Dial("tcp", h.Node("Goloman").ClientAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	name := strings.Repeat("x", 240)
	maxPending := 0
	for batch := 0; welsh.NATS().LimitHits().SlowConsumers < sleepers; batch++ {
		if batch == 400 { // 200,000 records: far more than any buffer
			t.Fatalf("after %d IAMATs: %+v, max pending %d", batch*500, welsh.NATS().LimitHits(), maxPending)
		}
		var b strings.Builder
		for i := range 500 {
			fmt.Fprintf(&b, "IAMAT %s%d +34.068930-118.445127 1621464827.%d\n", name, batch*500+i, batch)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(c, b.String()); err != nil {
			t.Fatal(err)
		}
		for range 500 {
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		for name, ci := range conns(t, welsh) {
			if strings.HasPrefix(name, "sleeper") {
				maxPending = max(maxPending, ci.Pending)
			}
		}
	}
	if maxPending > int(pending) {
		t.Errorf("Welsh queued %d bytes for a sleeper, limit %d", maxPending, pending)
	}
	now := conns(t, welsh)
	for name, ci := range own {
		if now[name] == nil || now[name].Cid != ci.Cid {
			t.Errorf("Welsh's own connection %q (cid %d) was cut: %+v", name, ci.Cid, now[name])
		}
	}
	if got := limitHits(t, welsh, "slow_consumer"); got < sleepers {
		t.Errorf("slow consumers counted %d, want at least %d", got, sleepers)
	}
	at := h.IAMAT("Goloman", "after", "+1+1", "1621464899")
	h.WaitRecord("after", at, h.Live()...)
	t.Logf("sleepers cut with at most %d bytes queued seen (limit %d)", maxPending, pending)
}

// The monitor port of a running node: no wildcard CORS on the NATS
// endpoints, and a Host that is not the node's (DNS rebinding) refused.
func TestNode_monitorRefusesForeignHosts(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": nil}, monitorOn)
	u := h.Node("A").MonitorURL()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	for _, tt := range []struct {
		host, path string
		code       int
	}{
		{"127.0.0.1:" + port, "/varz", http.StatusOK},
		{"localhost:" + port, "/connz", http.StatusOK},
		{"127.0.0.1:" + port, "/", http.StatusOK},
		{"localhost:" + port, "/metrics", http.StatusOK},
		{"rebind.evil.example:" + port, "/connz", http.StatusMisdirectedRequest},
		{"rebind.evil.example:" + port, "/varz", http.StatusMisdirectedRequest},
		{"rebind.evil.example:" + port, "/metrics", http.StatusMisdirectedRequest},
		{"rebind.evil.example:" + port, "/", http.StatusMisdirectedRequest},
	} {
		req, err := http.NewRequest(http.MethodGet, u+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tt.host
		req.Header.Set("Origin", "http://rebind.evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s Host %s: %d %.80q, want %d", tt.path, tt.host, resp.StatusCode, body, tt.code)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("GET %s Host %s: Access-Control-Allow-Origin %q", tt.path, tt.host, v)
		}
		if tt.code != http.StatusOK && (strings.Contains(string(body), "server_id") || !strings.Contains(string(body), "refused Host")) {
			t.Errorf("GET %s Host %s: body %.200q", tt.path, tt.host, body)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
