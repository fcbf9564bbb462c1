package herdrun

import (
	"io"
	"testing"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
)

// Every other node of the herd file is a NATS peer of a node, at its
// cluster address, and the only servers it lets in; refusals of a wrong
// route password name where the password comes from.
func TestNodeConfig_peers(t *testing.T) {
	hf, err := herdfile.Parse(deploy.DefaultHerdFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NodeConfig(hf, "Holiday", nil, Logger(hf.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	want := []embeddednats.Peer{{Name: "Goloman", Route: "127.0.0.1:16221"}, {Name: "Hands", Route: "127.0.0.1:16222"},
		{Name: "Welsh", Route: "127.0.0.1:16224"}, {Name: "Wilkes", Route: "127.0.0.1:16225"}}
	if len(cfg.NATS.Peers) != len(want) || !cfg.NATS.PeersOnly {
		t.Fatalf("peers %v (only %v), want %v", cfg.NATS.Peers, cfg.NATS.PeersOnly, want)
	}
	for i, p := range want {
		if cfg.NATS.Peers[i] != p {
			t.Errorf("peer %d = %v, want %v", i, cfg.NATS.Peers[i], p)
		}
	}
	if cfg.NATS.RoutePasswordHint != "HERD_ROUTE_PASSWORD" {
		t.Errorf("password hint %q", cfg.NATS.RoutePasswordHint)
	}
	for _, tt := range []struct {
		c    herdfile.Credential
		want string
	}{
		{herdfile.Credential{PasswordFile: "/run/credentials/x/route"}, "/run/credentials/x/route (auth.routes.password_file)"},
		{herdfile.Credential{PasswordEnv: "PW", PasswordFile: "/f"}, "PW (auth.routes.password_env) or /f (auth.routes.password_file)"},
	} {
		if got := passwordHint(tt.c, "auth.routes"); got != tt.want {
			t.Errorf("passwordHint(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
