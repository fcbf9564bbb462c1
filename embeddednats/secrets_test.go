package embeddednats

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// No password shows in the logs, even at trace level (which logs every
// protocol line, CONNECT included), nor on any monitoring endpoint.
func TestServer_secretsNotShown(t *testing.T) {
	const routePW, sysPW = "route-Pa55-x9", "sys-Pa55-y8"
	logs := newCapture(LevelTrace)
	mutate := func(c *Config) {
		c.RouteUser, c.RoutePassword = "herd", routePW
		c.SystemPassword = sysPW
		c.MonitorAddr = "127.0.0.1:0"
		c.Debug, c.Trace = true, true
		c.Chaos = true
		c.Logger = slog.New(logs)
	}
	a, b, _ := startChain(t, mutate)
	// A reload drops routes (nats-server logs each with its URL): a
	// changed peer list, and a chaos cut and heal.
	if _, _, err := b.SetPeers([]Peer{{Name: "A", Route: a.ClusterAddr()}}); err != nil {
		t.Fatal(err)
	}
	if err := b.BlockRoutes(RouteBlock{Peers: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.BlockRoutes(RouteBlock{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A back among B's peers", func() bool { return slices.Contains(b.Peers(), "A") })

	sys, err := nats.Connect(b.ClientURL(), nats.UserInfo(DefaultSystemUser, sysPW))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if _, err := sys.Request("$SYS.REQ.SERVER.PING.ROUTEZ", nil, waitTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := nats.Connect(a.ClientURL(), nats.UserInfo(DefaultSystemUser, "wrong-"+sysPW)); err == nil {
		t.Fatal("wrong system password accepted")
	}

	var seen strings.Builder
	for _, s := range []*Server{a, b} {
		for _, path := range []string{"/", "/varz", "/routez?subs=1", "/connz?auth=1&subs=1", "/subsz?subs=1", "/accountz", "/healthz", "/gatewayz", "/leafz", "/accstatz"} {
			resp, err := http.Get("http://" + s.MonitorAddr() + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			seen.Write(body)
		}
	}
	for _, r := range logs.records() {
		seen.WriteString(r.Message + "\n")
	}
	if testing.Verbose() {
		for _, l := range strings.Split(seen.String(), "\n") {
			if strings.Contains(l, "pass") {
				t.Log(l)
			}
		}
	}
	if !strings.Contains(seen.String(), "CONNECT") || !strings.Contains(seen.String(), "Removed route") {
		t.Fatal("trace did not log CONNECT lines or a removed route: test would prove nothing")
	}
	for _, secret := range []string{routePW, sysPW} {
		if i := strings.Index(seen.String(), secret); i >= 0 {
			out := seen.String()
			t.Errorf("secret %q shown: ...%s...", secret, out[max(0, i-200):min(len(out), i+50)])
		}
	}
}
