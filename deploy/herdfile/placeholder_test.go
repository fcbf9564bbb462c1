package herdfile_test

import (
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
)

// Every path a node opens at start takes {node}, the CA file included
// (the shipped hosts file keeps its CA in each node's credentials
// directory); other fields keep their text.
func TestConfig_ForNode(t *testing.T) {
	c, err := herdfile.Parse([]byte(`
places: {provider: google, key_env: "", key_file: "/run/credentials/herd-node@{node}.service/places-key"}
auth:
  system: {password_file: "/run/credentials/herd-node@{node}.service/sys"}
  routes: {user: herd, password_env: "", password_file: "/run/credentials/herd-node@{node}.service/route"}
tls:
  routes:
    ca_file: "/run/credentials/herd-node@{node}.service/route-ca.pem"
    cert_file: "/run/credentials/herd-node@{node}.service/route-cert.pem"
    key_file: "/run/credentials/herd-node@{node}.service/route-key.pem"
nodes:
  - {name: A, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", log_file: "/var/log/herd/{node}.log", neighbors: [B]}
  - {name: B, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", log_file: "/var/log/herd/{node}.log", neighbors: [A]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.ForNode("B")
	cert, key, ca := b.TLS.Routes.Files("B")
	for _, p := range []string{b.Places.KeyFile, b.Auth.System.PasswordFile, b.Auth.Routes.PasswordFile, cert, key, ca} {
		if !strings.HasPrefix(p, "/run/credentials/herd-node@B.service/") {
			t.Errorf("path %q not resolved for B", p)
		}
	}
	if b.Nodes[0].LogFile != "/var/log/herd/A.log" || b.Nodes[1].LogFile != "/var/log/herd/B.log" {
		t.Errorf("log files %q %q, want each node's own name", b.Nodes[0].LogFile, b.Nodes[1].LogFile)
	}
	if c.TLS.Routes.CAFile != "/run/credentials/herd-node@{node}.service/route-ca.pem" || c.Nodes[0].LogFile != "/var/log/herd/{node}.log" {
		t.Error("ForNode changed the config it was called on")
	}
	if b.Auth.Routes.User != "herd" || len(b.Nodes) != 2 || b.Places.Provider != "google" {
		t.Errorf("other fields changed: %+v", b)
	}
}
