package embeddednats

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// observerConn connects over TCP without credentials and records every
// asynchronous error the server sends (permission violations).
func observerConn(t *testing.T, s *Server) (*nats.Conn, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	nc, err := nats.Connect(s.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// An observer on B sees what A's node publishes, may call the service
// subjects, and is refused on the bus subjects: nothing it sends there
// reaches a subscriber.
func TestServer_observerPermissions(t *testing.T) {
	a, b, _ := startChain(t, nil)
	node, err := a.Connect()
	if err != nil {
		t.Fatal(err)
	}
	bus, err := b.Connect() // B's node, listening on its bus subject
	if err != nil {
		t.Fatal(err)
	}
	busSub, err := bus.SubscribeSync("herd.at.B")
	if err != nil {
		t.Fatal(err)
	}
	svcSub, err := bus.SubscribeSync("herd.iamat")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Flush(); err != nil {
		t.Fatal(err)
	}

	obs, errs := observerConn(t, b)
	sub, err := obs.SubscribeSync("herd.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitInterest(testContext(t), "herd.at.X"); err != nil {
		t.Fatal(err)
	}
	if err := node.Publish("herd.at.X", []byte("flood")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(waitTimeout); err != nil || string(m.Data) != "flood" {
		t.Fatalf("observer on B: msg %v, err %v; want A's flood", m, err)
	}

	for _, subj := range []string{"herd.at.B", "herd.sync.B", "herd.other", "_INBOX.x", "$SYS.REQ.SERVER.PING"} {
		if err := obs.Publish(subj, []byte("AT forged")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subj) {
				t.Errorf("publish %s: async error %v, want permissions violation naming it", subj, err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("publish %s: no permissions violation reported", subj)
		}
	}
	// Allowed: a request to a service subject arrives.
	if err := obs.Publish("herd.iamat", []byte("IAMAT x +1+1 1")); err != nil {
		t.Fatal(err)
	}
	if m, err := svcSub.NextMsg(waitTimeout); err != nil || string(m.Data) != "IAMAT x +1+1 1" {
		t.Fatalf("service request: msg %v, err %v", m, err)
	}
	// Nothing forged reached B's bus: flush a marker through B's own
	// connection after the forgeries and see it first.
	if err := bus.Publish("herd.at.B", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if m, err := busSub.NextMsg(waitTimeout); err != nil || string(m.Data) != "marker" {
		t.Fatalf("B's bus got %v (err %v) before the marker, want nothing forged", m, err)
	}
	select {
	case err := <-errs:
		t.Errorf("unexpected async error %v", err)
	default:
	}
	// Subscribing outside herd.> and _INBOX.> is refused too.
	if _, err := obs.Subscribe("$SYS.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe $SYS.>: %v, want permissions violation", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("subscribe $SYS.>: no permissions violation reported")
	}
}

// Whatever credentials a caller passes, Connect authenticates as the node;
// a TCP client with wrong credentials is refused rather than demoted.
func TestServer_Connect_asNode(t *testing.T) {
	s := startServer(t, testConfig(t, "Welsh"))
	nc, err := s.Connect(nats.UserInfo("nobody", "wrong"))
	if err != nil {
		t.Fatalf("in-process connect with stray credentials: %v", err)
	}
	if err := nc.Publish("herd.at.Welsh", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil || nc.LastError() != nil {
		t.Fatalf("node publish on the bus: %v / %v", err, nc.LastError())
	}
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("nobody", "wrong")); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("TCP connect with wrong credentials: %v, want authorization violation", err)
	}
}

// With a system user, $SYS.REQ.SERVER.PING (what `nats server list`
// sends) is answered by every server of the cluster; without credentials
// the system account is out of reach.
func TestServer_systemUserPing(t *testing.T) {
	const pw = "sys-Secret-42"
	a, b, c := startChain(t, func(c *Config) { c.SystemPassword = pw })
	for _, s := range []*Server{a, b, c} {
		got := pingServers(t, s, nats.UserInfo(DefaultSystemUser, pw))
		if strings.Join(got, ",") != "A,B,C" {
			t.Errorf("via %s: ping answered by %v, want A,B,C", s.Name(), got)
		}
	}
	if _, err := nats.Connect(a.ClientURL(), nats.UserInfo(DefaultSystemUser, "wrong")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("system user with wrong password: %v, want authorization violation", err)
	}
}

// pingServers sends $SYS.REQ.SERVER.PING on s and returns the sorted names
// of the servers that answered within a short window.
func pingServers(t *testing.T, s *Server, opts ...nats.Option) []string {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			break
		}
		var resp struct {
			Server struct{ Name string } `json:"server"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			t.Fatal(err)
		}
		names = append(names, resp.Server.Name)
		if len(names) == 3 {
			break
		}
	}
	slices.Sort(names)
	return names
}

func TestSecret_format(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RoutePassword, cfg.SystemPassword = "route-pw-1", "sys-pw-2"
	var b strings.Builder
	fmt.Fprintf(&b, "%v %+v %#v %s", cfg, cfg, cfg, cfg.RoutePassword)
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "pw", cfg.RoutePassword, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "pw", cfg.SystemPassword)
	if out := b.String(); strings.Contains(out, "route-pw-1") || strings.Contains(out, "sys-pw-2") || !strings.Contains(out, redacted) {
		t.Errorf("secret shown: %s", out)
	}
	if Secret("").String() != "" {
		t.Error("empty secret should print empty")
	}
}

func TestConfig_Validate_routePasswordNotShown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name = "A"
	for _, r := range []string{"nats-route://u:hunter2@127.0.0.1:0", "nats-route://u:hunter2@:1", "nats-route://u:hunter2@h:1/p"} {
		cfg.Routes = []string{r}
		err := cfg.Validate()
		if !errors.Is(err, ErrRoute) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Validate(%s) = %v, want ErrRoute without the password", r, err)
		}
	}
}

// Each forbidden publish makes nats-server log an error; an observer
// sending thousands must not write thousands of lines.
func TestServer_observerViolationsLogBounded(t *testing.T) {
	logs := newCapture(slog.LevelInfo)
	cfg := testConfig(t, "Hands")
	cfg.Logger = slog.New(logs)
	s := startServer(t, cfg)
	obs, err := nats.Connect(s.ClientURL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	const forged = 5000
	for range forged {
		if err := obs.Publish("herd.at.Hands", []byte("AT forged")); err != nil {
			t.Fatal(err)
		}
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "violations to be logged", func() bool { return logs.count("Publish Violation") > 0 })
	if n := len(logs.records()); n > logBurst+50 {
		t.Errorf("%d log lines for %d forbidden publishes, want <= %d", n, forged, logBurst+50)
	}
}
