package herdrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
)

func testHerdFile() herdfile.Config {
	hf := herdfile.DefaultConfig()
	hf.Nodes = []herdfile.Node{{Name: "Solo", Client: "127.0.0.1:0", NATS: "127.0.0.1:0", Cluster: "127.0.0.1:0"}}
	return hf
}

func TestLoadSecurity(t *testing.T) {
	hf := testHerdFile()
	hf.Auth.Routes.User = "herd"
	env := map[string]string{"HERD_ROUTE_PASSWORD": "route-pw-9", "HERD_SYSTEM_PASSWORD": "sys-pw-8"}
	sec, err := LoadSecurity(hf, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if on, gen := sec.RouteAuth(); !on || gen || sec.SystemUser() != "sys" {
		t.Errorf("route auth %v generated %v system %q", on, gen, sec.SystemUser())
	}
	if sec.GenerateRouteAuth() {
		t.Error("GenerateRouteAuth replaced a configured password")
	}
	var cfg node.Config
	if err := sec.apply(&cfg, "Solo"); err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.RouteUser != "herd" || string(cfg.NATS.RoutePassword) != "route-pw-9" || string(cfg.NATS.SystemPassword) != "sys-pw-8" {
		t.Errorf("applied NATS config %+v", cfg.NATS)
	}
	if out := fmt.Sprintf("%s %v %+v %#v %v", sec.Summary(), sec, *sec, sec, []any{sec}); strings.Contains(out, "route-pw-9") || strings.Contains(out, "sys-pw-8") {
		t.Errorf("security printed with a secret: %s", out)
	}

	delete(env, "HERD_ROUTE_PASSWORD")
	if _, err := LoadSecurity(hf, func(k string) string { return env[k] }); !errors.Is(err, herdfile.ErrMissingSecret) {
		t.Errorf("route user without password: %v, want ErrMissingSecret", err)
	}
	hf.Auth.Routes.User = ""
	sec, err = LoadSecurity(hf, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !sec.GenerateRouteAuth() {
		t.Error("no password generated for a herd without route auth")
	}
	if on, gen := sec.RouteAuth(); !on || !gen || sec.SystemUser() != "" {
		t.Errorf("generated: route auth %v generated %v system %q", on, gen, sec.SystemUser())
	}
}

// A herd file that asks for route auth never starts without it applied.
func TestStart_needsSecurity(t *testing.T) {
	hf := testHerdFile()
	hf.Auth.Routes.User = "herd"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := Start(context.Background(), hf, nil, &Providers{}, log); !errors.Is(err, ErrNoSecurity) {
		t.Fatalf("Start without WithSecurity: %v, want ErrNoSecurity", err)
	}
}
