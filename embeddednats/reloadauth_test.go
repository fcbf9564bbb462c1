package embeddednats

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A reload (SetPeers, BlockRoutes: every chaos cut and heal) checks every
// client connection again, including one whose CONNECT has not arrived
// yet. That connection keeps the identity its CONNECT gives it: the
// system user stays the system user (not the observer, as when the
// observer was an nkey), and one without credentials is the observer.
// SetPeers reloads here, not a chaos heal, which may reload once more a
// moment later, while the CONNECT is being checked. The clients' auth
// timeout is longer than the test may wait: the CONNECT goes only once
// SetPeers returned, and a SetPeers that removes a peer first waits 1.5 s
// for its routes to be quiet (removalQuiet), so on a starved machine it
// took longer than nats-server's default 2 s (the server then closed the
// connection with 'Authentication Timeout' before the CONNECT, and there
// was no identity to check).
func TestServer_reloadBeforeConnect(t *testing.T) {
	const sysPW = "sys-Pa55-z7"
	logs := newCapture(slog.LevelWarn)
	a, b, c := startChain(t, func(c *Config) {
		c.RouteUser, c.RoutePassword = "herd", "route-Pa55-q1"
		c.SystemPassword = sysPW
		c.Logger = slog.New(logs)
		c.Options = func(o *server.Options) { o.AuthTimeout = waitTimeout.Seconds() }
	})
	for i, tt := range []struct {
		name, creds string
		allowed     bool
	}{
		{"system user", `"user":"sys","pass":"` + sysPW + `",`, true},
		{"no credentials", ``, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, br := dialBeforeConnect(t, b.ClientURL())
			// The reload runs while the server waits for this CONNECT.
			peers := []Peer{{Name: "A", Route: a.ClusterAddr()}}
			if i%2 == 0 {
				peers = append(peers, Peer{Name: "C", Route: c.ClusterAddr()})
			}
			if _, _, err := b.SetPeers(peers); err != nil {
				t.Fatal(err)
			}
			lines := "CONNECT {" + tt.creds + `"verbose":false,"headers":true}` + "\r\n" +
				"SUB _INBOX.x 1\r\nPUB $SYS.REQ.SERVER.PING.ROUTEZ _INBOX.x 0\r\n\r\nPING\r\n"
			if _, err := conn.Write([]byte(lines)); err != nil {
				t.Fatal(err)
			}
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				switch {
				case strings.HasPrefix(l, "MSG _INBOX.x "):
					if !tt.allowed {
						t.Fatalf("a connection without credentials got a system reply: %q", l)
					}
					return
				case strings.HasPrefix(l, "-ERR 'Permissions Violation for Publish to \"$SYS."):
					if tt.allowed {
						t.Fatalf("the system user connecting during a reload was refused $SYS: %q", l)
					}
					return
				case strings.HasPrefix(l, "-ERR"):
					t.Fatalf("unexpected: %q", l)
				}
			}
		})
	}
	for _, r := range logs.records() {
		if strings.Contains(r.Message, "Plaintext") {
			t.Errorf("warned about the observer's password: %s", r.Message)
		}
	}
}

// dialBeforeConnect opens a raw client connection and reads the server's
// INFO, sending nothing.
func dialBeforeConnect(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(conn)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("INFO: %q %v", l, err)
	}
	return conn, br
}
