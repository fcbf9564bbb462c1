package embeddednats

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A route or gateway whose CONNECT reaches the accepting server after that
// server's auth timeout is closed there with -ERR 'Authentication
// Timeout'. It happens on a starved machine (nine nodes starting at once
// under the race detector, beside two busy loops) and heals by itself:
// the dialler dials again. So the dialler logs it as a warning that says
// so, never at error level, and the route or gateway forms.
//
// A proxy in front of the accepting server A holds the first connection's
// bytes from the dialler B for longer than A's auth timeout (shortened for
// the test); later connections pass at once (a gateway's redial may also
// go straight to the address A's INFO gave).
func TestServer_authTimeoutRedialled(t *testing.T) {
	const authTimeout = 0.25 // seconds, A's
	const stall = time.Second
	auth := func(c *Config) { c.RouteUser, c.RoutePassword = "herd", "right-horse-battery" }
	for _, tt := range []struct {
		name string
		// start starts A (accepting) and then B, which dials A at the
		// address viaProxy gives for A's; formed reports whether the two
		// are connected.
		start func(t *testing.T, a, b Config, viaProxy func(target string) string) (formed func() bool)
		line  string // what B logs
	}{
		{"route", func(t *testing.T, ca, cb Config, viaProxy func(string) string) func() bool {
			ca.Options = func(o *server.Options) { o.Cluster.AuthTimeout = authTimeout }
			a := startServer(t, ca)
			cb.Routes = []string{viaProxy(a.ClusterAddr())}
			b := startServer(t, cb)
			return func() bool { return a.NumPeers() == 1 && b.NumPeers() == 1 }
		}, "Route Error 'Authentication Timeout'"},
		{"gateway", func(t *testing.T, ca, cb Config, viaProxy func(string) string) func() bool {
			ca.Options = func(o *server.Options) { o.Gateway.AuthTimeout = authTimeout }
			ca.ClusterName, ca.GatewayAddr, ca.Regions = "eu", "127.0.0.1:0", []Region{{Name: "us"}}
			a := startServer(t, ca)
			cb.ClusterName, cb.GatewayAddr = "us", "127.0.0.1:0"
			cb.Regions = []Region{{Name: "eu", Gateways: []string{viaProxy(a.GatewayAddr())}}}
			b := startServer(t, cb)
			return func() bool {
				return slices.Equal(a.GatewaysUp(), []string{"us"}) && slices.Equal(b.GatewaysUp(), []string{"eu"})
			}
		}, "Gateway Error 'Authentication Timeout'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			aLogs, bLogs := newCapture(slog.LevelInfo), newCapture(slog.LevelInfo)
			ca, cb := testConfig(t, "A"), testConfig(t, "B")
			auth(&ca)
			auth(&cb)
			ca.Logger = slog.New(teeHandler{aLogs, ca.Logger.Handler()})
			cb.Logger = slog.New(teeHandler{bLogs, cb.Logger.Handler()})
			formed := tt.start(t, ca, cb, func(target string) string {
				p := startProxy(t, target)
				p.stallNext.Store(int64(stall))
				return p.addr
			})
			waitFor(t, "B's timed-out dial logged", func() bool { return bLogs.count(tt.line) > 0 })
			waitFor(t, "A and B connected after the redial", formed)
			for _, r := range bLogs.records() {
				if strings.Contains(r.Message, tt.line) && r.Level != slog.LevelWarn {
					t.Errorf("B logged %v %q, want a warning that says it dials again", r.Level, r.Message)
				}
			}
			if bLogs.count(tt.line, "nats-server dials again") == 0 {
				t.Error("B's line does not say that it dials again")
			}
			for name, logs := range map[string]*captureHandler{"A": aLogs, "B": bLogs} {
				for _, r := range logs.records() {
					if r.Level >= slog.LevelError {
						t.Errorf("%s logged at error level: %q", name, r.Message)
					}
				}
			}
		})
	}
}
