package embeddednats

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// closeLog records the OnRouteClosed calls of one server.
type closeLog struct {
	mu    sync.Mutex // guards calls
	calls []string   // "remote reason"
}

func (l *closeLog) add(remote, reason string) {
	l.mu.Lock()
	l.calls = append(l.calls, remote+" "+reason)
	l.mu.Unlock()
}

func (l *closeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%q", l.calls)
}

func (l *closeLog) from(remote string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if len(c) > len(remote) && c[:len(remote)+1] == remote+" " {
			n++
		}
	}
	return n
}

func total(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// A route cut between two servers is counted by reason on both, and each
// is told which remote it lost, so that the node can repair with it.
func TestServer_RouteCloses(t *testing.T) {
	var logA, logB closeLog
	cfgA := testConfig(t, "A")
	cfgA.OnRouteClosed = logA.add
	a := startServer(t, cfgA)
	proxy := startProxy(t, a.ClusterAddr())
	cfgB := testConfig(t, "B")
	cfgB.Routes = []string{proxy.addr}
	cfgB.OnRouteClosed = logB.add
	b := startServer(t, cfgB)
	waitMesh(t, a, b)

	// Formation may close duplicate routes; what counts is what the cut adds.
	beforeA, beforeB := total(a.RouteCloses()), total(b.RouteCloses())
	fromB, fromA := logA.from("B"), logB.from("A")

	proxy.cut()
	waitFor(t, "both count the cut route", func() bool {
		return total(a.RouteCloses()) > beforeA && total(b.RouteCloses()) > beforeB
	})
	if logA.from("B") <= fromB || logB.from("A") <= fromA {
		t.Errorf("OnRouteClosed: A told of B %d→%d, B told of A %d→%d times; want more after the cut (calls %s, %s)",
			fromB, logA.from("B"), fromA, logB.from("A"), &logA, &logB)
	}
	for _, s := range []*Server{a, b} {
		for reason := range s.RouteCloses() {
			if reason == "" {
				t.Errorf("%s counted a route close without a reason: %v", s.Name(), s.RouteCloses())
			}
		}
	}
}

func TestReasonLabel(t *testing.T) {
	for _, tc := range []struct {
		in   server.ClosedState
		want string
	}{
		{server.StaleConnection, "stale_connection"},
		{server.SlowConsumerWriteDeadline, "slow_consumer_write_deadline"},
		{server.DuplicateRoute, "duplicate_route"},
		{server.ClientClosed, "client_closed"},
		{server.ReadError, "read_error"},
	} {
		if got := ReasonLabel(tc.in); got != tc.want {
			t.Errorf("ReasonLabel(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
