package herdrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// regionsFile is the shipped deploy/regions.yaml with every port 0.
func regionsFile(t testing.TB) herdfile.Config {
	t.Helper()
	data := regexp.MustCompile(`127\.0\.0\.1:1\d{4}`).ReplaceAll(deploy.RegionsHerdFile(), []byte("127.0.0.1:0"))
	hf, err := herdfile.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return hf
}

// A node of deploy/regions.yaml is in the NATS cluster of its region,
// dials routes only to its region's nodes (its neighbor in another region
// is not a route), and dials the gateways of the other regions.
func TestNodeConfig_regions(t *testing.T) {
	hf, err := herdfile.Parse(deploy.RegionsHerdFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NodeConfig(hf, "Paris", nil, Logger(hf.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range cfg.NATS.Peers {
		peers = append(peers, p.Name)
	}
	switch {
	case cfg.NATS.ClusterName != "eu":
		t.Errorf("cluster %q, want eu", cfg.NATS.ClusterName)
	case !slices.Equal(peers, []string{"Berlin", "Madrid"}):
		t.Errorf("route peers %v, want Paris's region only", peers)
	case strings.Join(cfg.NATS.Routes, " ") != "nats-route://127.0.0.1:16112 nats-route://127.0.0.1:16113":
		t.Errorf("routes %v: Boston (us) must be reached through the gateway", cfg.NATS.Routes)
	case cfg.NATS.GatewayAddr != "127.0.0.1:17111":
		t.Errorf("gateway %q", cfg.NATS.GatewayAddr)
	case len(cfg.NATS.Regions) != 2 || cfg.NATS.Regions[0].Name != "us" || cfg.NATS.Regions[1].Name != "ap" ||
		strings.Join(cfg.NATS.Regions[0].Gateways, " ") != "127.0.0.1:17121 127.0.0.1:17122 127.0.0.1:17123":
		t.Errorf("regions %+v", cfg.NATS.Regions)
	case !slices.Contains(cfg.Neighbors, "Boston") || cfg.Herd.Regions["Boston"] != "us":
		t.Errorf("neighbors %v, regions %v", cfg.Neighbors, cfg.Herd.Regions)
	}
	// The default herd file is one region, named after the herd, without gateways.
	def, _ := herdfile.Parse(deploy.DefaultHerdFile())
	if cfg, _ := NodeConfig(def, "Welsh", nil, Logger(def.Log, io.Discard)); cfg.NATS.ClusterName != "herd" || cfg.NATS.GatewayAddr != "" || len(cfg.NATS.Regions) != 0 {
		t.Errorf("default herd: cluster %q, gateway %q, regions %v", cfg.NATS.ClusterName, cfg.NATS.GatewayAddr, cfg.NATS.Regions)
	}
}

// monitorJSON gets a NATS monitoring endpoint of a node's monitor port.
func monitorJSON(t *testing.T, base, path string, v any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s", base, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// deploy/regions.yaml in one process (every port 0): each node's /routez
// lists routes only to its own region's nodes, its /gatewayz an outbound
// gateway to every other region, and an IAMAT in eu reaches every node of
// us and ap, where WHATSAT answers with the origin's AT line.
func TestStart_regions(t *testing.T) {
	hf := regionsFile(t)
	ps := testProviders(t, hf)
	defer ps.Close()
	h, err := Start(context.Background(), hf, nil, ps, Logger(hf.Log, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitFormed(ctx); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, n := range h.Nodes {
		byName[n.Name()] = i
	}
	for _, n := range h.Nodes {
		region := hf.Region(n.Name())
		var rz struct {
			Routes []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		monitorJSON(t, n.MonitorURL(), "/routez", &rz)
		remotes := map[string]bool{}
		for _, r := range rz.Routes {
			remotes[r.RemoteName] = true
		}
		want := slices.DeleteFunc(hf.RegionNodes(region), func(m string) bool { return m == n.Name() })
		if got := slices.Sorted(maps.Keys(remotes)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s (%s) /routez remotes %v, want its region's %v", n.Name(), region, got, want)
		}
		var gz struct {
			Name     string `json:"name"`
			Outbound map[string]struct {
				Connection *struct{} `json:"connection"`
			} `json:"outbound_gateways"`
		}
		monitorJSON(t, n.MonitorURL(), "/gatewayz", &gz)
		var out []string
		for r, g := range gz.Outbound {
			if g.Connection != nil {
				out = append(out, r)
			}
		}
		others := slices.DeleteFunc(hf.Regions(), func(r string) bool { return r == region })
		if slices.Sort(out); gz.Name != region || !slices.Equal(out, slices.Sorted(slices.Values(others))) {
			t.Errorf("%s /gatewayz: name %q, outbound %v; want %s, %v", n.Name(), gz.Name, out, region, others)
		}
	}

	c := dial(t, h.Nodes[byName["Berlin"]].ClientAddr())
	fmt.Fprintf(c, "IAMAT from-eu +52.52+13.40 1621464827\n")
	c.(interface{ CloseWrite() error }).CloseWrite()
	at, _ := io.ReadAll(c)
	c.Close()
	line := strings.TrimSuffix(string(at), "\n")
	if !strings.HasPrefix(line, "AT Berlin ") {
		t.Fatalf("IAMAT at Berlin: %q", at)
	}
	for _, r := range []string{"us", "ap"} {
		for _, name := range hf.RegionNodes(r) {
			n := h.Nodes[byName[name]]
			wait.Check(t, 10*time.Second, name+" holding Berlin's record", func() error {
				if got, _ := n.Store().Get("from-eu"); got.Line != line {
					return fmt.Errorf("holds %q", got.Line)
				}
				return nil
			})
		}
	}
}

// A node whose gateway address is not loopback does not start with open
// routes (and so open gateways), and the refusal names the gateway address
// and the herd file setting.
func TestStart_openGatewayRefused(t *testing.T) {
	hf, err := herdfile.Parse([]byte(`
nodes:
  - {name: Solo, region: eu, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", gateway: "0.0.0.0:0"}
  - {name: Far, region: us, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0", gateway: "127.0.0.1:0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := startOpen(t, hf, "")
	if err == nil {
		t.Fatalf("Solo started with an open gateway on %s", h.Nodes[0].NATS().GatewayAddr())
	}
	var fe *herdfile.FieldError
	if !errors.Is(err, embeddednats.ErrOpenRoutes) || !errors.As(err, &fe) || fe.Field != "auth.routes.insecure" ||
		!strings.Contains(err.Error(), "gateway address 0.0.0.0:0") {
		t.Fatalf("Start = %v, want ErrOpenRoutes naming auth.routes.insecure and the gateway address", err)
	}
}
