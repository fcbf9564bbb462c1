package embeddednats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr error
		field   string
	}{
		{"default with name", func(*Config) {}, nil, ""},
		{"all fields", func(c *Config) {
			c.Name = "Goloman_2-x"
			c.ClientAddr = ":4222"
			c.ClusterAddr = "0.0.0.0:6222"
			c.ClusterAdvertise = "herd.example:6222"
			c.Routes = []string{"nats-route://127.0.0.1:6223", "localhost:6224", "nats://u:p@[::1]:6225"}
			c.MonitorAddr = "127.0.0.1:0"
			c.ConnectRetries = 0
			c.RouteUser, c.RoutePassword = "herd", "pw"
		}, nil, ""},
		{"empty name", func(c *Config) { c.Name = "" }, ErrName, "Name"},
		{"dot in name", func(c *Config) { c.Name = "a.b" }, ErrName, "Name"},
		{"space in name", func(c *Config) { c.Name = "a b" }, ErrName, "Name"},
		{"wildcard in name", func(c *Config) { c.Name = "a*" }, ErrName, "Name"},
		{"non-ascii name", func(c *Config) { c.Name = "Zürich" }, ErrName, "Name"},
		{"empty cluster name", func(c *Config) { c.ClusterName = "" }, ErrClusterName, "ClusterName"},
		{"cluster name with gt", func(c *Config) { c.ClusterName = "herd>" }, ErrClusterName, "ClusterName"},
		{"client addr no port", func(c *Config) { c.ClientAddr = "127.0.0.1" }, ErrClientAddr, "ClientAddr"},
		{"client addr big port", func(c *Config) { c.ClientAddr = "127.0.0.1:65536" }, ErrClientAddr, "ClientAddr"},
		{"client addr named port", func(c *Config) { c.ClientAddr = "127.0.0.1:nats" }, ErrClientAddr, "ClientAddr"},
		{"empty cluster addr", func(c *Config) { c.ClusterAddr = "" }, ErrClusterAddr, "ClusterAddr"},
		{"cluster addr negative", func(c *Config) { c.ClusterAddr = "127.0.0.1:-1" }, ErrClusterAddr, "ClusterAddr"},
		{"advertise port 0", func(c *Config) { c.ClusterAdvertise = "127.0.0.1:0" }, ErrAdvertise, "ClusterAdvertise"},
		{"route port 0", func(c *Config) { c.Routes = []string{"127.0.0.1:0"} }, ErrRoute, "Routes[0]"},
		{"route no host", func(c *Config) { c.Routes = []string{"ok:1", ":6222"} }, ErrRoute, "Routes[1]"},
		{"route url no host", func(c *Config) { c.Routes = []string{"nats-route://:6222"} }, ErrRoute, "Routes[0]"},
		{"route http scheme", func(c *Config) { c.Routes = []string{"http://127.0.0.1:6222"} }, ErrRoute, "Routes[0]"},
		{"route path", func(c *Config) { c.Routes = []string{"nats-route://127.0.0.1:6222/x"} }, ErrRoute, "Routes[0]"},
		{"route no port", func(c *Config) { c.Routes = []string{"nats-route://127.0.0.1"} }, ErrRoute, "Routes[0]"},
		{"monitor addr bad", func(c *Config) { c.MonitorAddr = "8222" }, ErrMonitorAddr, "MonitorAddr"},
		{"negative retries", func(c *Config) { c.ConnectRetries = -1 }, ErrConnectRetries, "ConnectRetries"},
		{"route auth", func(c *Config) { c.RouteUser, c.RoutePassword = "herd", "pw" }, nil, ""},
		{"route user only", func(c *Config) { c.RouteUser = "herd" }, ErrRouteAuth, "RoutePassword"},
		{"route password only", func(c *Config) { c.RoutePassword = "pw" }, ErrRouteAuth, "RouteUser"},
		{"route user space", func(c *Config) { c.RouteUser, c.RoutePassword = "a b", "pw" }, ErrRouteAuth, "RouteUser"},
		{"system user empty", func(c *Config) { c.SystemUser, c.SystemPassword = "", "pw" }, ErrSystemUser, "SystemUser"},
		{"system user unused", func(c *Config) { c.SystemUser = "" }, nil, ""},
		{"observer subject bad", func(c *Config) { c.ObserverPublish = []string{"herd..x"} }, ErrObserver, "ObserverPublish[0]"},
		{"observer deny bad", func(c *Config) { c.ObserverDenyPublish = []string{"a", ">.x"} }, ErrObserver, "ObserverDenyPublish[1]"},
		{"observer nothing", func(c *Config) { c.ObserverPublish, c.ObserverSubscribe = nil, nil }, nil, ""},
		{"observer deny subscribe bad", func(c *Config) { c.ObserverDenySubscribe = []string{"herd iamat"} }, ErrObserver, "ObserverDenySubscribe[0]"},
		{"limit subscriptions low", func(c *Config) { c.ObserverLimits.Subscriptions = MinObserverSubscriptions - 1 }, ErrLimit, "ObserverLimits.Subscriptions"},
		{"limit connections zero", func(c *Config) { c.ObserverLimits.Connections = 0 }, ErrLimit, "ObserverLimits.Connections"},
		{"limit payload low", func(c *Config) { c.ObserverLimits.Payload = 1024 }, ErrLimit, "ObserverLimits.Payload"},
		{"limit payload high", func(c *Config) { c.ObserverLimits.Payload = MaxObserverPayload + 1 }, ErrLimit, "ObserverLimits.Payload"},
		{"limit pending low", func(c *Config) { c.ObserverLimits.PendingBytes = MinObserverPendingBytes - 1 }, ErrLimit, "ObserverLimits.PendingBytes"},
		{"limits at their bounds", func(c *Config) {
			c.ObserverLimits = ObserverLimits{Subscriptions: MinObserverSubscriptions, Connections: 1, PendingBytes: MinObserverPendingBytes, Payload: MaxObserverPayload}
		}, nil, ""},
		// Open routes off loopback: refused unless asked for.
		{"open routes all interfaces", func(c *Config) { c.ClusterAddr = "0.0.0.0:6222" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open routes empty host", func(c *Config) { c.ClusterAddr = ":6222" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open routes LAN IP", func(c *Config) { c.ClusterAddr = "10.1.2.3:0" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open routes host name", func(c *Config) { c.ClusterAddr = "goloman.herd:6222" }, ErrOpenRoutes, "InsecureRoutes"},
		{"open routes TLS without verify", func(c *Config) {
			c.ClusterAddr = "10.1.2.3:6222"
			c.RouteTLS = &tls.Config{Certificates: []tls.Certificate{{}}, RootCAs: x509.NewCertPool()}
		}, ErrOpenRoutes, "InsecureRoutes"},
		{"open routes asked for", func(c *Config) { c.ClusterAddr, c.InsecureRoutes = "10.1.2.3:6222", true }, nil, ""},
		{"routes with password", func(c *Config) { c.ClusterAddr, c.RouteUser, c.RoutePassword = "10.1.2.3:6222", "herd", "pw" }, nil, ""},
		{"routes with verified TLS", func(c *Config) {
			c.ClusterAddr = "10.1.2.3:6222"
			c.RouteTLS = &tls.Config{Certificates: []tls.Certificate{{}}, RootCAs: x509.NewCertPool(),
				ClientCAs: x509.NewCertPool(), ClientAuth: tls.RequireAndVerifyClientCert}
		}, nil, ""},
		{"open routes localhost", func(c *Config) { c.ClusterAddr = "localhost:6222" }, nil, ""},
		{"open routes IPv6 loopback", func(c *Config) { c.ClusterAddr = "[::1]:6222" }, nil, ""},
		{"open routes 127.0.0.2", func(c *Config) { c.ClusterAddr = "127.0.0.2:6222" }, nil, ""},
		{"tls no cert", func(c *Config) { c.RouteTLS = &tls.Config{RootCAs: x509.NewCertPool()} }, ErrRouteTLS, "RouteTLS"},
		{"tls no roots", func(c *Config) { c.RouteTLS = &tls.Config{Certificates: []tls.Certificate{{}}} }, ErrRouteTLS, "RouteTLS"},
		{"tls verify no client CAs", func(c *Config) {
			c.RouteTLS = &tls.Config{Certificates: []tls.Certificate{{}}, RootCAs: x509.NewCertPool(), ClientAuth: tls.RequireAndVerifyClientCert}
		}, ErrRouteTLS, "RouteTLS"},
		{"tls insecure", func(c *Config) {
			c.RouteTLS = &tls.Config{Certificates: []tls.Certificate{{}}, RootCAs: x509.NewCertPool(), InsecureSkipVerify: true}
		}, ErrRouteTLS, "RouteTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Name = "A"
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate() = %v, want errors.Is %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate() = %q, does not name field %s", err, tt.field)
			}
			if _, nerr := New(cfg); !errors.Is(nerr, tt.wantErr) {
				t.Errorf("New() = %v, want errors.Is %v", nerr, tt.wantErr)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.ClusterName != "herd" || c.ClientAddr != "127.0.0.1:0" || c.ClusterAddr != "127.0.0.1:0" {
		t.Errorf("DefaultConfig() = %+v, want herd cluster on loopback port 0", c)
	}
	if c.MonitorAddr != "" || c.Debug || c.Trace {
		t.Errorf("DefaultConfig() monitor/debug/trace on: %+v", c)
	}
	if c.ConnectRetries <= 0 {
		t.Errorf("DefaultConfig().ConnectRetries = %d, want > 0 so implicit routes are redialled", c.ConnectRetries)
	}
}

func TestConfig_options(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name = "Hands"
	cfg.Routes = []string{"127.0.0.1:7001", "nats-route://127.0.0.1:7002", "nats://u:p@127.0.0.1:7003/"}
	cfg.MonitorAddr = "127.0.0.1:0"
	var hooked bool
	cfg.Options = func(o *server.Options) { hooked = o.ServerName == "Hands" }
	o, err := cfg.options(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.NoSigs {
		t.Error("NoSigs = false; the server's signal handler would exit the process")
	}
	if o.Port != server.RANDOM_PORT || o.Cluster.Port != server.RANDOM_PORT || o.HTTPPort != server.RANDOM_PORT {
		t.Errorf("ports = %d/%d/%d, want RANDOM_PORT for port 0", o.Port, o.Cluster.Port, o.HTTPPort)
	}
	if o.Host != "127.0.0.1" || o.Cluster.Host != "127.0.0.1" || o.HTTPHost != "127.0.0.1" {
		t.Errorf("hosts = %s/%s/%s, want loopback", o.Host, o.Cluster.Host, o.HTTPHost)
	}
	if o.Cluster.Name != "herd" || o.Cluster.ConnectRetries != DefaultConnectRetries {
		t.Errorf("cluster = %+v", o.Cluster)
	}
	want := []string{"nats-route://127.0.0.1:7001", "nats-route://127.0.0.1:7002", "nats-route://u:p@127.0.0.1:7003"}
	if len(o.Routes) != len(want) {
		t.Fatalf("routes = %v, want %v", o.Routes, want)
	}
	for i, u := range o.Routes {
		if u.String() != want[i] {
			t.Errorf("route[%d] = %s, want %s", i, u, want[i])
		}
	}
	if !hooked {
		t.Error("Options hook not called with the built options")
	}
	l := DefaultObserverLimits()
	if o.MaxSubs != l.Subscriptions || o.MaxConn != l.Connections+InProcessReserve || o.MaxPending != l.PendingBytes || o.MaxPayload != l.Payload {
		t.Errorf("client limits subs %d conns %d pending %d payload %d, want %+v (+%d in-process connections)",
			o.MaxSubs, o.MaxConn, o.MaxPending, o.MaxPayload, l, InProcessReserve)
	}
	if o.WriteDeadline != 0 || o.Cluster.WriteDeadline != 0 {
		t.Errorf("write deadlines %v / %v changed: routes inherit the client one", o.WriteDeadline, o.Cluster.WriteDeadline)
	}

	cfg.MonitorAddr = ""
	o, err = cfg.options(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.HTTPPort != 0 {
		t.Errorf("HTTPPort = %d with monitoring off, want 0", o.HTTPPort)
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"Goloman": true, "a_b-9": true, "": false, "a.b": false, "a>": false, "a\tb": false, "é": false,
	} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
}
