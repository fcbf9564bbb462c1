package embeddednats

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConfig_Validate_gateways(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mutate  func(*Config)
		wantErr error
		field   string
	}{
		{"no gateway", func(*Config) {}, nil, ""},
		{"gateway alone", func(c *Config) { c.GatewayAddr = "127.0.0.1:0" }, nil, ""},
		{"regions", func(c *Config) {
			c.GatewayAddr, c.GatewayAdvertise = "127.0.0.1:7222", "gw.example:7222"
			c.Regions = []Region{{Name: "us", Gateways: []string{"127.0.0.1:7223", "us2.example:7222"}}, {Name: "ap"}}
		}, nil, ""},
		{"regions without gateway", func(c *Config) { c.Regions = []Region{{Name: "us"}} }, ErrGatewayAddr, "GatewayAddr"},
		{"advertise without gateway", func(c *Config) { c.GatewayAdvertise = "gw:7222" }, ErrGatewayAddr, "GatewayAdvertise"},
		{"gateway no port", func(c *Config) { c.GatewayAddr = "127.0.0.1" }, ErrGatewayAddr, "GatewayAddr"},
		{"advertise port 0", func(c *Config) { c.GatewayAddr, c.GatewayAdvertise = "127.0.0.1:0", "gw:0" }, ErrGatewayAddr, "GatewayAdvertise"},
		{"region bad name", func(c *Config) { c.GatewayAddr, c.Regions = "127.0.0.1:0", []Region{{Name: "u s"}} }, ErrRegion, "Regions[0].Name"},
		{"region is own", func(c *Config) { c.GatewayAddr, c.Regions = "127.0.0.1:0", []Region{{Name: DefaultClusterName}} }, ErrRegion, "Regions[0].Name"},
		{"region twice", func(c *Config) {
			c.GatewayAddr, c.Regions = "127.0.0.1:0", []Region{{Name: "us"}, {Name: "us"}}
		}, ErrRegion, "Regions[1].Name"},
		{"region gateway port 0", func(c *Config) {
			c.GatewayAddr, c.Regions = "127.0.0.1:0", []Region{{Name: "us", Gateways: []string{"127.0.0.1:0"}}}
		}, ErrRegion, "Regions[0].Gateways[0]"},
		{"region gateway no host", func(c *Config) {
			c.GatewayAddr, c.Regions = "127.0.0.1:0", []Region{{Name: "us", Gateways: []string{":7222"}}}
		}, ErrRegion, "Regions[0].Gateways[0]"},
		{"open gateway off loopback", func(c *Config) { c.GatewayAddr = "10.1.2.3:7222" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open gateway on all interfaces", func(c *Config) { c.GatewayAddr = ":7222" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open gateway, insecure", func(c *Config) { c.GatewayAddr, c.InsecureRoutes = "10.1.2.3:7222", true }, nil, ""},
		{"gateway with credentials", func(c *Config) {
			c.GatewayAddr, c.RouteUser, c.RoutePassword = "10.1.2.3:7222", "herd", "pw"
		}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Name = "A"
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "field "+tt.field) {
				t.Fatalf("Validate() = %v, want %v naming field %s", err, tt.wantErr, tt.field)
			}
		})
	}
}

func TestConfig_options_gateways(t *testing.T) {
	c := testConfig(t, "A")
	c.ClusterName = "eu"
	c.GatewayAddr = "127.0.0.1:7222"
	c.RouteUser, c.RoutePassword = "herd", "pw"
	c.Regions = []Region{{Name: "us", Gateways: []string{"127.0.0.1:7223"}}, {Name: "ap", Gateways: []string{"127.0.0.1:7224"}}}
	o, err := c.options(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := o.Gateway
	switch {
	case g.Name != "eu" || g.Host != "127.0.0.1" || g.Port != 7222:
		t.Errorf("gateway %s at %s:%d, want eu at 127.0.0.1:7222", g.Name, g.Host, g.Port)
	case g.Username != "herd" || g.Password != "pw":
		t.Errorf("gateway credentials %q/%q, want the route's", g.Username, g.Password)
	case !g.RejectUnknown:
		t.Error("RejectUnknown off although every region's gateways are known")
	case len(g.Gateways) != 2 || g.Gateways[1].Name != "us" || g.Gateways[1].URLs[0].Host != "127.0.0.1:7223": // sorted by name (sortForReload)
		t.Errorf("remote gateways %+v", g.Gateways)
	}
	c.Regions[1].Gateways = nil // not known: it dials us
	if o, _ = c.options(nil, nil); o.Gateway.RejectUnknown || len(o.Gateway.Gateways) != 1 {
		t.Errorf("with a region unknown: RejectUnknown %v, %d remotes; want false, 1", o.Gateway.RejectUnknown, len(o.Gateway.Gateways))
	}
}

// regionServer is a server of region with a gateway on a free port,
// dialling the regions of known (region → gateway addresses).
func regionServer(t *testing.T, name, region string, known map[string][]string, others []string, routes ...string) *Server {
	t.Helper()
	c := testConfig(t, name)
	c.ClusterName = region
	c.GatewayAddr = "127.0.0.1:0"
	c.Routes = routes
	for _, r := range others {
		c.Regions = append(c.Regions, Region{Name: r, Gateways: known[r]})
	}
	return startServer(t, c)
}

// Three regions on port 0, started region after region (each knows the
// gateways of the regions before it; NATS dials back the others): every
// server has routes only inside its region and a gateway to every other
// one, a publish in eu reaches subscribers in us and ap, and a region's
// interest is known to the others.
func TestServer_regions(t *testing.T) {
	known := map[string][]string{}
	eu1 := regionServer(t, "eu1", "eu", known, []string{"us", "ap"})
	eu2 := regionServer(t, "eu2", "eu", known, []string{"us", "ap"}, eu1.ClusterAddr())
	known["eu"] = []string{eu1.GatewayAddr(), eu2.GatewayAddr()}
	us1 := regionServer(t, "us1", "us", known, []string{"eu", "ap"})
	us2 := regionServer(t, "us2", "us", known, []string{"eu", "ap"}, us1.ClusterAddr())
	known["us"] = []string{us1.GatewayAddr()}
	ap1 := regionServer(t, "ap1", "ap", known, []string{"eu", "us"})
	// A subscription made before the gateways form is known everywhere
	// once WaitClusterFormed returns: the other regions sent all their
	// interest before a gateway counts as up.
	early, err := ap1.Connect()
	if err != nil {
		t.Fatal(err)
	}
	earlySub, err := early.SubscribeSync("herd.at.ap1")
	if err != nil {
		t.Fatal(err)
	}
	early.Flush()
	all := []*Server{eu1, eu2, us1, us2, ap1}
	peers := map[*Server][]string{eu1: {"eu2"}, eu2: {"eu1"}, us1: {"us2"}, us2: {"us1"}, ap1: nil}
	for _, s := range all {
		if err := s.WaitClusterFormed(testContext(t), len(peers[s])); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
	if !eu2.RegionSubscribed("ap", "herd.at.ap1") {
		t.Fatal("eu2 formed before it knew ap1's subscription")
	}
	nc2, err := eu2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc2.Publish("herd.at.ap1", []byte("first message")); err != nil {
		t.Fatal(err)
	}
	if m, err := earlySub.NextMsg(waitTimeout); err != nil || string(m.Data) != "first message" {
		t.Fatalf("ap1 got %v, %v: the first message after formation was lost", m, err)
	}
	for _, s := range all {
		if got := s.Peers(); !slices.Equal(got, peers[s]) {
			t.Errorf("%s has routes to %v, want only its region's %v", s.Name(), got, peers[s])
		}
		gz, err := s.NATS().Gatewayz(nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for name, g := range gz.OutboundGateways {
			if g.Connection != nil {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		if want := s.RegionNames(); !slices.Equal(out, want) {
			t.Errorf("%s has outbound gateways to %v, want %v", s.Name(), out, want)
		}
		if got := s.GatewaysUp(); !slices.Equal(got, s.RegionNames()) || len(s.MissingRegions()) != 0 {
			t.Errorf("%s: gateways up %v, missing %v; want up %v", s.Name(), got, s.MissingRegions(), s.RegionNames())
		}
	}

	subscribe := func(s *Server, subject string) func() string {
		t.Helper()
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		return func() string {
			m, err := sub.NextMsg(waitTimeout)
			if err != nil {
				t.Fatalf("%s on %s: %v", s.Name(), subject, err)
			}
			return string(m.Data)
		}
	}
	if eu1.HasInterest("herd.at.us2") || eu1.RegionSubscribed("us", "herd.at.us2") {
		t.Fatal("eu1 sees interest in herd.at.us2 before anyone subscribed")
	}
	nextUS2, nextAP1 := subscribe(us2, "herd.at.us2"), subscribe(ap1, "herd.at.>")
	if err := eu1.WaitInterest(testContext(t), "herd.at.us2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "eu1 to learn us's subscription on herd.at.us2", func() bool { return eu1.RegionSubscribed("us", "herd.at.us2") })
	waitFor(t, "eu1 to learn ap's herd.at.>", func() bool { return eu1.RegionSubscribed("ap", "herd.at.>") })
	if eu1.RegionSubscribed("ap", "herd.at.us2") {
		t.Error("ap's wildcard counts as a subscription on exactly herd.at.us2")
	}
	if eu1.RegionSubscribed("eu", "herd.at.us2") || eu1.RegionSubscribed("nowhere", "herd.at.us2") {
		t.Error("a subscription reported in a region that has none")
	}
	nc, err := eu1.Connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("herd.at.us2", []byte("from eu")); err != nil {
		t.Fatal(err)
	}
	if got := nextUS2(); got != "from eu" {
		t.Errorf("us2 got %q", got)
	}
	if got := nextAP1(); got != "from eu" {
		t.Errorf("ap1 got %q", got)
	}

	// ap goes away: the others miss it, and no longer count as formed.
	ap1.Close()
	waitFor(t, "eu1 to miss ap", func() bool { return slices.Equal(eu1.MissingRegions(), []string{"ap"}) })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := eu1.WaitClusterFormed(ctx, 1); err == nil || !strings.Contains(err.Error(), "missing [ap]") {
		t.Errorf("WaitClusterFormed without ap = %v, want it to name ap missing", err)
	}
}

// Gateways demand the route credentials and route TLS: a region with the
// wrong password, or a certificate from another CA, never joins, and what
// is published for it is not delivered; with the right ones it joins.
func TestServer_gatewaySecurity(t *testing.T) {
	herdCA, otherCA := newTestCA(t, "herd CA"), newTestCA(t, "other CA")
	secure := func(pw Secret, issuer *testPKI) func(*Config) {
		return func(c *Config) {
			c.RouteUser, c.RoutePassword = "herd", pw
			c.RouteTLS = routeTLS(t, issuer, herdCA, c.Name)
		}
	}
	start := func(name, region string, mod func(*Config), regions ...Region) *Server {
		c := testConfig(t, name)
		c.ClusterName, c.GatewayAddr, c.Regions = region, "127.0.0.1:0", regions
		mod(&c)
		return startServer(t, c)
	}
	eu := start("eu1", "eu", secure("right", herdCA), Region{Name: "us"})
	for _, tt := range []struct {
		name string
		mod  func(*Config)
	}{
		{"wrong password", secure("wrong", herdCA)},
		{"certificate from another CA", secure("right", otherCA)},
		{"no credentials, no TLS", func(*Config) {}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			us := start("us1", "us", tt.mod, Region{Name: "eu", Gateways: []string{eu.GatewayAddr()}})
			nc, err := us.Connect()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("x")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond) // two redials
			defer cancel()
			if err := us.WaitGatewaysFormed(ctx); err == nil {
				t.Fatal("a region with wrong credentials formed gateways")
			}
			if eu.HasInterest("x") || len(eu.GatewaysUp()) != 0 {
				t.Fatalf("eu sees us: interest %v, gateways up %v", eu.HasInterest("x"), eu.GatewaysUp())
			}
			en, err := eu.Connect()
			if err != nil {
				t.Fatal(err)
			}
			defer en.Close()
			en.Publish("x", []byte("not for strangers"))
			en.Flush()
			if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
				t.Fatalf("refused region got %q", m.Data)
			}
			us.Close()
		})
	}
	us := start("us1", "us", secure("right", herdCA), Region{Name: "eu", Gateways: []string{eu.GatewayAddr()}})
	for _, s := range []*Server{eu, us} {
		if err := s.WaitGatewaysFormed(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	vz, err := eu.NATS().Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vz.Gateway.TLSRequired || !vz.Gateway.TLSVerify {
		t.Errorf("eu's gateway: TLS required %v verify %v, want both", vz.Gateway.TLSRequired, vz.Gateway.TLSVerify)
	}
}

// A region not in the herd is refused once every region's gateways are
// configured (RejectUnknown).
func TestServer_gatewayStrangerRegion(t *testing.T) {
	euAddr, usAddr := freeAddr(t), freeAddr(t)
	start := func(name, region, addr string, regions ...Region) *Server {
		c := testConfig(t, name)
		c.ClusterName, c.GatewayAddr, c.Regions = region, addr, regions
		return startServer(t, c)
	}
	eu := start("eu1", "eu", euAddr, Region{Name: "us", Gateways: []string{usAddr}})
	us := start("us1", "us", usAddr, Region{Name: "eu", Gateways: []string{euAddr}})
	x := start("x1", "stranger", "127.0.0.1:0", Region{Name: "eu", Gateways: []string{euAddr}})
	for _, s := range []*Server{eu, us} {
		if err := s.WaitGatewaysFormed(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond) // two redials
	defer cancel()
	if err := x.WaitGatewaysFormed(ctx); err == nil {
		t.Fatal("a region not in the herd joined")
	}
	for _, g := range eu.Gateways() {
		if g.Region == "stranger" && (g.Outbound || g.Inbound > 0) {
			t.Errorf("eu has a gateway with the stranger: %+v", g)
		}
	}
}

// freeAddr is a loopback address no listener holds now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A gateway dial that finds nobody listening is logged at info level (the
// other region is not up yet); other gateway dial errors stay errors.
func TestSlogLogger_gatewayRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want slog.Level
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, slog.LevelInfo},
		{"timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, slog.LevelError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(LevelTrace)
			newSlogLogger(slog.New(logs), nil).Errorf(gatewayDialFormat, "explicit", "us", "127.0.0.1:7222", "127.0.0.1:7222", 1, tt.err)
			recs := logs.records()
			if len(recs) != 1 || recs[0].Level != tt.want {
				t.Fatalf("logged %v, want one line at %v", recs, tt.want)
			}
		})
	}
}
