package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// floodOnly turns periodic anti-entropy off, so that what arrives arrived
// by the flood (or by the sync a route coming up triggers).
func floodOnly(c *node.Config) { nodetest.FloodOnly("", c) }

// Cutting one route leaves the herd connected: records reach every node
// through the other paths at once; healing it brings the route back
// within a few seconds.
func TestService_CutAndHeal(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	if err := h.Chaos.Cut("Goloman", "Hands"); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	for i, origin := range []string{"Hands", "Goloman", "Welsh"} {
		client := "cut-" + origin
		line := iamat(h, origin, client, fmt.Sprint(1621464827+i))
		want := map[string]string{}
		for _, n := range h.Live() {
			for c, l := range nodetest.Lines(h.Node(n)) {
				want[c] = l
			}
		}
		want[client] = line
		took := h.WaitConverged(want, 2*time.Second, h.Live()...)
		t.Logf("with Goloman–Hands cut, %s's record reached all five in %s", origin, took.Round(time.Millisecond))
	}
	if err := h.Chaos.Heal("Goloman", "Hands"); err != nil {
		t.Fatal(err)
	}
	took := h.WaitRoutes(5 * time.Second)
	t.Logf("route Goloman–Hands back %s after heal", took.Round(time.Millisecond))
}

// Partition {Goloman, Hands, Wilkes} from {Holiday, Welsh}, write on both
// sides, the same clients included, and heal: all five hold the newest
// record of every client within 5 s.
func TestService_PartitionHeals(t *testing.T) {
	h := startHerd(t, defaultTopology, nil)
	left, right := []string{"Goloman", "Hands", "Wilkes"}, []string{"Holiday", "Welsh"}
	if err := h.Chaos.Partition(left, right); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	want := map[string]string{}
	var leftLines, rightLines []string
	for i := range 60 {
		// shared-i is written on both sides; which side is newer alternates.
		l := iamat(h, left[i%3], fmt.Sprintf("shared-%d", i), fmt.Sprintf("1621464827.%03d", 100+i+(i%2)*500))
		r := iamat(h, right[i%2], fmt.Sprintf("shared-%d", i), fmt.Sprintf("1621464827.%03d", 300+i))
		leftLines = append(leftLines, l, iamat(h, left[i%3], fmt.Sprintf("left-%d", i), "1621464828"))
		rightLines = append(rightLines, r, iamat(h, right[i%2], fmt.Sprintf("right-%d", i), "1621464828"))
	}
	sideL, sideR := map[string]string{}, map[string]string{}
	nodetest.Newest(t, sideL, leftLines...)
	nodetest.Newest(t, sideR, rightLines...)
	h.WaitConverged(sideL, 10*time.Second, left...)
	h.WaitConverged(sideR, 10*time.Second, right...)
	nodetest.Newest(t, want, leftLines...)
	nodetest.Newest(t, want, rightLines...)

	if err := h.Chaos.HealAll(); err != nil {
		t.Fatal(err)
	}
	took := h.WaitConverged(want, 5*time.Second, h.Live()...)
	t.Logf("after heal, all five hold the newest of %d clients in %s", len(want), took.Round(time.Millisecond))
	h.WaitRoutes(10 * time.Second)
}

// A stopped node keeps running but takes no clients and has no route: a
// record written meanwhile does not reach it, though it answers the chaos
// service on its own NATS port, and holds its client port. Started again,
// it takes clients on the same port and gets the record by anti-entropy.
func TestService_StopAndStart(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	clientAddr := h.Node("Welsh").ClientAddr()
	if err := h.Chaos.Stop("Welsh"); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	if got := h.Node("Welsh").NATS().Peers(); len(got) != 0 {
		t.Fatalf("stopped Welsh has routes to %v", got)
	}
	if c, err := net.DialTimeout("tcp", clientAddr, time.Second); err == nil {
		c.Close()
		t.Fatalf("stopped Welsh's client port %s still takes connections", clientAddr)
	}
	// Its port stays Welsh's meanwhile: a socket that does not ask to
	// share it cannot bind it (nor can an outgoing connection's ephemeral
	// port or a port-0 listener, which the kernel would give a free one).
	if ln, err := exclusiveListen(clientAddr); err == nil {
		ln.Close()
		t.Fatalf("stopped Welsh's client port %s was free to take", clientAddr)
	}
	line := iamat(h, "Goloman", "while-stopped", "1621464827")
	h.WaitRecord("while-stopped", line, "Goloman", "Hands", "Holiday", "Wilkes")
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(50 * time.Millisecond) {
		if r, ok := h.Node("Welsh").Store().Get("while-stopped"); ok {
			t.Fatalf("stopped Welsh got %q", r.Line)
		}
	}
	st := status(t, h, "Welsh")
	if st.Stopped == nil || st.Stopped.Age == "" {
		t.Errorf("Welsh's status while stopped: %+v", st)
	}
	if err := h.Chaos.Stop("Welsh"); err == nil || !strings.Contains(err.Error(), chaos.ErrStopped.Error()) {
		t.Errorf("second stop: %v, want %q", err, chaos.ErrStopped)
	}

	if err := h.Chaos.Start("Welsh"); err != nil {
		t.Fatal(err)
	}
	h.WaitRecord("while-stopped", line, "Welsh")
	h.WaitRoutes(10 * time.Second)
	if got := h.Node("Welsh").ClientAddr(); got != clientAddr {
		t.Errorf("Welsh's client port after start %q, want %q again", got, clientAddr)
	}
	if got := h.Send("Welsh", "WHATSAT while-stopped 1 1"); !strings.HasPrefix(got, line+"\n") {
		t.Errorf("WHATSAT at started Welsh: %q", got)
	}
	if err := h.Chaos.Start("Welsh"); err == nil || !strings.Contains(err.Error(), chaos.ErrRunning.Error()) {
		t.Errorf("start of a running node: %v, want %q", err, chaos.ErrRunning)
	}
}

// exclusiveListen listens on addr without SO_REUSEADDR (which Go's
// listeners set).
func exclusiveListen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// status asks node for its status as the system user, through its own
// NATS port.
func status(t *testing.T, h *nodetest.Herd, node string) chaos.Status {
	t.Helper()
	nc := sysConn(t, h.Node(node).NATS().ClientURL(), nodetest.ChaosPassword)
	m, err := nc.Request(chaos.Subject(node, chaos.VerbStatus), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st chaos.Status
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func sysConn(t *testing.T, url, password string) *nats.Conn {
	t.Helper()
	nc, err := embeddednats.Dial(url, wait.Timeout, nats.UserInfo("sys", password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A cut for a while heals by itself; meanwhile both ends list it with
// the time it has left.
func TestService_cutFor(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	cl, err := chaos.Dial(h.Node("Goloman").NATS().ClientURL(), "sys", nodetest.ChaosPassword, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const d = 2 * time.Second
	cutAt := time.Now()
	if err := cl.Cut(context.Background(), "Holiday", "Welsh", d); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Holiday", "Welsh"} {
		st := status(t, h, n)
		if len(st.Cuts) != 1 || st.Cuts[0].Left == "" {
			t.Errorf("%s's cuts during a cut for %v: %+v", n, d, st.Cuts)
		}
	}
	wait.Within(t, 5*time.Second, "Holiday–Welsh cut", func() bool {
		return !slices.Contains(h.Node("Welsh").NATS().Peers(), "Holiday")
	})
	wait.Within(t, 10*time.Second, "Holiday–Welsh healed by itself", func() bool {
		return slices.Contains(h.Node("Welsh").NATS().Peers(), "Holiday")
	})
	if took := time.Since(cutAt); took < d {
		t.Errorf("route back %v after a cut for %v", took, d)
	}
	for _, n := range []string{"Holiday", "Welsh"} {
		if st := status(t, h, n); len(st.Cuts) != 0 {
			t.Errorf("%s still lists cuts %+v after they expired", n, st.Cuts)
		}
	}
}

// Only the system user reaches the service: no credentials and a wrong
// password are refused with a clear error; an observer (no credentials on
// the NATS port) and the herd's own account cannot reach its subjects.
// Bad requests get an error reply naming what is wrong.
func TestClient_errors(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	url := h.Node("Goloman").NATS().ClientURL()
	if _, err := chaos.Dial(url, "sys", "", 0); !errors.Is(err, chaos.ErrCredentials) || !strings.Contains(err.Error(), "HERD_SYSTEM_PASSWORD") {
		t.Errorf("Dial without a password: %v", err)
	}
	if _, err := chaos.Dial(url, "sys", "wrong-password", 0); err == nil || !strings.Contains(err.Error(), "wrong system password") {
		t.Errorf("Dial with a wrong password: %v", err)
	}
	cl, err := chaos.Dial(url, "sys", nodetest.ChaosPassword, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.Cut(ctx, "Goloman", "Nobody", 0); !errors.Is(err, chaos.ErrUnknownNode) {
		t.Errorf("cut with an unknown node: %v", err)
	}
	if err := cl.Cut(ctx, "Goloman", "Goloman", 0); !errors.Is(err, chaos.ErrSameNode) {
		t.Errorf("cut of a node with itself: %v", err)
	}
	if err := cl.Partition(ctx, 0, []string{"Goloman", "Hands"}, []string{"Hands"}); !errors.Is(err, chaos.ErrSameNode) {
		t.Errorf("partition with a node in two groups: %v", err)
	}
	if _, err := cl.Stop(ctx, "Nobody", 0); !errors.Is(err, chaos.ErrUnknownNode) {
		t.Errorf("stop of an unknown node: %v", err)
	}

	sys := sysConn(t, url, nodetest.ChaosPassword)
	for _, tt := range []struct{ subject, body, want string }{
		{chaos.Subject("Goloman", "cut"), `{"peers":["Hands"],"for":"-1s"}`, "positive Go duration"},
		{chaos.Subject("Goloman", "cut"), `{"peers":[]}`, "no peers"},
		{chaos.Subject("Goloman", "cut"), `{"peers":`, "bad request"},
		{chaos.Subject("Goloman", "explode"), `{}`, `no verb "explode"`},
		{chaos.Subject("Goloman", "heal"), `{"peers":["Nobody"]}`, "unknown node"},
	} {
		m, err := sys.Request(tt.subject, []byte(tt.body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.subject, tt.body, err)
		}
		var st chaos.Status
		if err := json.Unmarshal(m.Data, &st); err != nil || !strings.Contains(st.Error, tt.want) {
			t.Errorf("%s %s: reply %s, want an error with %q", tt.subject, tt.body, m.Data, tt.want)
		}
	}
	if cuts := status(t, h, "Goloman").Cuts; len(cuts) != 0 {
		t.Errorf("refused requests cut %+v", cuts)
	}

	// An observer: no credentials, so the herd's account, where publishing
	// there is not allowed at all.
	refused := make(chan error, 1)
	obs, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	if _, err := obs.Request(chaos.Subject("Goloman", "status"), nil, time.Second); err == nil {
		t.Error("an observer reached the chaos service")
	}
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("observer's request refused with %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the observer's request was not refused")
	}
	// The node's own connection in the herd's account: nobody there.
	own, err := h.Node("Hands").NATS().Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if _, err := own.Request(chaos.Subject("Goloman", "status"), nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("a request in the herd's account: %v, want no responders", err)
	}
}

// In a herd of two regions a cut applies to routes, inside a region: a
// cut between regions is refused, naming why, and cuts nothing; one
// inside a region cuts that route.
func TestService_regions(t *testing.T) {
	topo := map[string][]string{"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}
	h := nodetest.Start(t, topo, nodetest.WithChaos(), nodetest.WithRegions(map[string]string{"A": "east", "B": "east", "C": "west"}),
		nodetest.WithConfig(func(_ string, c *node.Config) { floodOnly(c) }))
	if err := h.Chaos.Cut("B", "C"); err == nil || !strings.Contains(err.Error(), chaos.ErrOtherRegion.Error()) {
		t.Errorf("cut between regions: %v, want %q", err, chaos.ErrOtherRegion)
	}
	for _, n := range []string{"B", "C"} {
		if cuts := status(t, h, n).Cuts; len(cuts) != 0 {
			t.Errorf("%s cuts %+v after a refused cut", n, cuts)
		}
	}
	if err := h.Chaos.Cut("A", "B"); err != nil {
		t.Fatal(err)
	}
	h.WaitRoutes(10 * time.Second)
	if got := h.Node("A").NATS().Peers(); len(got) != 0 {
		t.Errorf("A routed to %v with A–B cut", got)
	}
}

// A node whose change closes its route to the client's server is asked at
// its own NATS port: it answers before it makes the change, but an answer
// still on that route is lost with it (the server, refused the node's
// marked route, closes the routes the node dialled at once, unread data
// and all). Discover may dial other nodes too (one whose status comes
// late), so only the nodes that must be dialled are checked.
func TestClient_asksAtOwnPort(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(context.Context, *chaos.Client) error
		direct string // the node that must be asked at its own port
	}{
		{"cut of the server's node", func(ctx context.Context, cl *chaos.Client) error {
			return cl.Cut(ctx, "Goloman", "Hands", 0)
		}, "Hands"},
		{"stop", func(ctx context.Context, cl *chaos.Client) error {
			_, err := cl.Stop(ctx, "Welsh", 0)
			return err
		}, "Welsh"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := startHerd(t, defaultTopology, floodOnly)
			cl, err := chaos.Dial(h.Node("Goloman").NATS().ClientURL(), "sys", nodetest.ChaosPassword, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := tt.change(context.Background(), cl); err != nil {
				t.Fatal(err)
			}
			cz, err := h.Node(tt.direct).NATS().NATS().Connz(&server.ConnzOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cz.Conns {
				if c.Name == "herd chaos" {
					return
				}
			}
			t.Errorf("the client did not dial %s, whose change closes its route to Goloman", tt.direct)
		})
	}
}
