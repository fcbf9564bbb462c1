package chaos_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// closingGate is a node's gate whose BlockRoutes closes the service while
// the change is in flight and records whether the service's subscriptions
// stayed meanwhile. The rest is the real server's.
type closingGate struct {
	*embeddednats.Server
	svc     *chaos.Service
	unsubAt atomic.Int64  // how long into the change the interest went; 0: it stayed
	done    chan struct{} // closed when the change returns
}

var _ chaos.Gate = (*closingGate)(nil)

func (g *closingGate) PeerNames() []string { return []string{"P"} }

// closeWindow is how long the change in flight watches for the service's
// subscriptions to go once Close has begun (they go within a millisecond
// when Close does not wait).
const closeWindow = 500 * time.Millisecond

func (g *closingGate) BlockRoutes(embeddednats.RouteBlock) error {
	defer close(g.done)
	go g.svc.Close()
	sys := g.NATS().SystemAccount()
	for start := time.Now(); time.Since(start) < closeWindow; time.Sleep(time.Millisecond) {
		if sys.Interest(chaos.Subject("X", chaos.VerbStatus)) == 0 {
			g.unsubAt.Store(int64(time.Since(start)))
			return nil
		}
	}
	return nil
}

type noDoors struct{}

func (noDoors) PauseClients() error                     { return nil }
func (noDoors) ResumeClients(ctx context.Context) error { return nil }

// Close waits for a change in flight before it unsubscribes: the change
// reloads the NATS server, which checks every client again, and an UNSUB
// the server processes meanwhile is a data race in nats-server (with
// gateways). Once the change is done the service is gone.
func TestService_Close(t *testing.T) {
	cfg := embeddednats.DefaultConfig()
	cfg.Name, cfg.Chaos, cfg.SystemPassword, cfg.Logger = "X", true, "close-test-password", nil
	srv, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	g := &closingGate{Server: srv, done: make(chan struct{})}
	svc, err := chaos.New(chaos.Config{Name: "X", Herd: []chaos.Member{{Name: "X"}, {Name: "P"}}}, g, noDoors{})
	if err != nil {
		t.Fatal(err)
	}
	g.svc = svc
	nc, err := srv.ConnectSystem()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := svc.Start(nc); err != nil {
		t.Fatal(err)
	}

	sys := sysConn(t, srv.ClientURL(), "close-test-password")
	m, err := sys.Request(chaos.Subject("X", chaos.VerbCut), []byte(`{"peers":["P"]}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st chaos.Status
	if err := json.Unmarshal(m.Data, &st); err != nil || st.Error != "" || len(st.Cuts) != 1 {
		t.Fatalf("cut reply %s (%v)", m.Data, err)
	}
	// The reply comes before the change is applied.
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the cut was not applied")
	}
	if at := time.Duration(g.unsubAt.Load()); at != 0 {
		t.Errorf("the service unsubscribed %v into its change in flight, while the server reloads", at)
	}
	wait.Within(t, 5*time.Second, "the service closed and unsubscribed", func() bool {
		return srv.NATS().SystemAccount().Interest(chaos.Subject("X", chaos.VerbStatus)) == 0
	})
}
