package embeddednats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
)

// Regions. A herd may span several regions: the servers of one region form
// one NATS cluster (ClusterName is the region's name, routes stay inside
// it), and the regions' clusters join as a NATS supercluster through
// gateways. Every server of a region listens for gateways (GatewayAddr)
// and dials one server of every other region (Regions); NATS forwards a
// message across a gateway only where the other region has said it has
// interest (since nats-server 2.9 every account runs in interest-only
// mode), and delivers it there through that region's routes.
//
// Security is the routes': the gateway user and password are the route
// user and password (nats-server compares them itself: its
// CustomRouterAuthentication covers routes only, so gateways cannot be
// checked by node name), gateways use the route TLS settings (the same
// certificate, which must name the gateway host too, and the same CA,
// verifying the servers that dial in), and a server whose gateway address
// is not loopback refuses to start with open gateways unless
// InsecureRoutes says so. A server that knows every region's gateway
// addresses accepts gateways only from those regions (RejectUnknown).

// Region is another region of the herd, as this server dials it.
type Region struct {
	// Name is the region's name: its servers' ClusterName.
	Name string
	// Gateways are host:port of its servers' gateway listeners, any of
	// which this server may dial (and redials forever after a cut). Empty
	// when not known in advance (port 0): the region's servers dial this
	// one, and this server dials back the address they tell it.
	Gateways []string
}

// GatewayState is this server's link to another region.
type GatewayState struct {
	// Region is the other region's name.
	Region string `json:"region"`
	// Outbound: this server's gateway connection to the region is up. A
	// server sends to another region only over its own outbound gateway.
	Outbound bool `json:"outbound"`
	// InterestKnown: the region has sent its whole interest in Account
	// (interest-only mode), so a publish here reaches the region's
	// subscribers — and only them. Until then NATS drops what this server
	// publishes for the region.
	InterestKnown bool `json:"interest_known"`
	// Inbound is the number of the region's servers that have their
	// gateway connection to this server (they send to this region over it).
	Inbound int `json:"inbound"`
}

// Up reports whether this server delivers to the region now.
func (g GatewayState) Up() bool { return g.Outbound && g.InterestKnown }

// gatewayDialFormat is nats-server's line for a failed gateway dial
// (gateway.go): "Error connecting to explicit gateway %q (%s) at %s
// (attempt %v): %v".
const gatewayDialFormat = "Error connecting to %s gateway %q (%s) at %s (attempt %v): %v"

// gatewayRefused reports whether an Errorf call is a gateway dial that
// found nobody listening: the other region's server is not up (yet), which
// is logged at info level like a route's (peerclose.go).
func gatewayRefused(format string, v []any) bool {
	if format != gatewayDialFormat || len(v) != 6 {
		return false
	}
	err, ok := v[5].(error)
	return ok && errors.Is(err, syscall.ECONNREFUSED)
}

// validateGateways checks GatewayAddr, GatewayAdvertise and Regions.
func (c Config) validateGateways() error {
	if c.GatewayAddr == "" {
		switch {
		case len(c.Regions) > 0:
			return fmt.Errorf("field GatewayAddr: %w: empty while Regions lists %d other regions (every server of a region needs a gateway)", ErrGatewayAddr, len(c.Regions))
		case c.GatewayAdvertise != "":
			return fmt.Errorf("field GatewayAdvertise: %w: set without GatewayAddr", ErrGatewayAddr)
		}
		return nil
	}
	if _, _, err := splitAddr(c.GatewayAddr, true); err != nil {
		return fmt.Errorf("field GatewayAddr %q: %w: %v", c.GatewayAddr, ErrGatewayAddr, err)
	}
	if c.GatewayAdvertise != "" {
		if _, _, err := splitAddr(c.GatewayAdvertise, false); err != nil {
			return fmt.Errorf("field GatewayAdvertise %q: %w: %v", c.GatewayAdvertise, ErrGatewayAddr, err)
		}
	}
	seen := map[string]bool{c.ClusterName: true}
	for i, r := range c.Regions {
		switch {
		case !IsToken(r.Name):
			return fmt.Errorf("field Regions[%d].Name %q: %w: want letters, digits, '_' or '-'", i, r.Name, ErrRegion)
		case r.Name == c.ClusterName:
			return fmt.Errorf("field Regions[%d].Name %q: %w: this server's own region (ClusterName)", i, r.Name, ErrRegion)
		case seen[r.Name]:
			return fmt.Errorf("field Regions[%d].Name %q: %w: listed twice", i, r.Name, ErrRegion)
		}
		seen[r.Name] = true
		for j, g := range r.Gateways {
			if h, _, err := net.SplitHostPort(g); err != nil || h == "" {
				return fmt.Errorf("field Regions[%d].Gateways[%d] %q: %w: want host:port", i, j, g, ErrRegion)
			}
			if _, _, err := splitAddr(g, false); err != nil {
				return fmt.Errorf("field Regions[%d].Gateways[%d] %q: %w: %v", i, j, g, ErrRegion, err)
			}
		}
	}
	return nil
}

// validateGatewaysSecure is validateRoutesSecure for the gateway listener.
func (c Config) validateGatewaysSecure() error {
	verified := c.RouteTLS != nil && c.RouteTLS.ClientAuth == tls.RequireAndVerifyClientCert
	if c.GatewayAddr == "" || c.InsecureRoutes || c.RoutePassword != "" || verified || IsLoopback(c.GatewayAddr) {
		return nil
	}
	return fmt.Errorf("field InsecureRoutes: %w: GatewayAddr %q is not loopback and gateways have neither credentials (RouteUser, RoutePassword) nor TLS verifying the servers that dial in (RouteTLS with RequireAndVerifyClientCert); set InsecureRoutes to run with open gateways anyway", ErrOpenRoutes, c.GatewayAddr)
}

// applyGateways sets the gateway options of a validated Config: the
// listener, named after the cluster (nats-server requires the gateway and
// cluster names to match), the route credentials and TLS, and the other
// regions as explicit remote gateways.
func (c Config) applyGateways(o *server.Options) {
	if c.GatewayAddr == "" {
		return
	}
	host, port, _ := splitAddr(c.GatewayAddr, true)
	o.Gateway = server.GatewayOpts{
		Name:      c.ClusterName,
		Host:      host,
		Port:      listenPort(port),
		Advertise: c.GatewayAdvertise,
		// Gateways learned by gossip (a region whose addresses were not
		// known at start) are redialled like explicit ones after a cut.
		ConnectRetries: c.ConnectRetries,
	}
	if c.RoutePassword != "" {
		o.Gateway.Username, o.Gateway.Password = c.RouteUser, string(c.RoutePassword)
	}
	if c.RouteTLS != nil {
		o.Gateway.TLSConfig = c.RouteTLS.Clone()
	}
	known := true
	for _, r := range c.Regions {
		if len(r.Gateways) == 0 {
			known = false
			continue
		}
		rg := &server.RemoteGatewayOpts{Name: r.Name}
		for _, g := range r.Gateways {
			rg.URLs = append(rg.URLs, &url.URL{Scheme: "nats", Host: g})
		}
		o.Gateway.Gateways = append(o.Gateway.Gateways, rg)
	}
	// Only the herd's regions may join, when all of them are known: a
	// region learned at run time would be refused otherwise.
	o.Gateway.RejectUnknown = known
}

// RegionNames are the other regions this server is configured to join,
// sorted.
func (s *Server) RegionNames() []string {
	names := make([]string, 0, len(s.cfg.Regions))
	for _, r := range s.cfg.Regions {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names
}

// Gateways returns this server's link to every other region it is
// configured to join, sorted by region, plus any other region connected
// to it. Nil without gateways or before Start.
func (s *Server) Gateways() []GatewayState {
	srv, err := s.running()
	if err != nil || s.cfg.GatewayAddr == "" {
		return nil
	}
	return gatewayStates(srv, s.RegionNames())
}

// GatewaysUp returns the regions this server delivers to now (see
// GatewayState.Up), sorted.
func (s *Server) GatewaysUp() []string {
	var up []string
	for _, g := range s.Gateways() {
		if g.Up() {
			up = append(up, g.Region)
		}
	}
	return up
}

// MissingRegions returns the configured regions this server does not
// deliver to now, sorted: what it publishes for them is dropped.
func (s *Server) MissingRegions() []string {
	var missing []string
	for _, g := range s.Gateways() {
		if !g.Up() && slices.Contains(s.RegionNames(), g.Region) {
			missing = append(missing, g.Region)
		}
	}
	return missing
}

// RegionSubscribed reports whether region has told this server, over its
// outbound gateway, of a subscription on exactly each of subjects in
// Account: a publish of one of them here then reaches its subscriber. A
// wildcard subscription (an observer's herd.>) does not count.
func (s *Server) RegionSubscribed(region string, subjects ...string) bool {
	srv, err := s.running()
	if err != nil || s.cfg.GatewayAddr == "" || len(subjects) == 0 {
		return false
	}
	gz, err := srv.Gatewayz(&server.GatewayzOptions{Name: region, AccountName: Account, AccountSubscriptions: true})
	if err != nil {
		return false
	}
	out := gz.OutboundGateways[region]
	if out == nil || out.Connection == nil {
		return false
	}
	for _, a := range out.Accounts {
		if a.Name != Account || a.InterestMode != server.InterestOnly.String() {
			continue
		}
		for _, subj := range subjects {
			if !slices.Contains(a.Subs, subj) {
				return false
			}
		}
		return true
	}
	return false
}

// gatewayStates reads the gateways of srv: every region in want, and any
// other connected one.
func gatewayStates(srv *server.Server, want []string) []GatewayState {
	gz, err := srv.Gatewayz(&server.GatewayzOptions{AccountName: Account})
	if err != nil {
		return nil
	}
	byName := map[string]*GatewayState{}
	get := func(name string) *GatewayState {
		g := byName[name]
		if g == nil {
			g = &GatewayState{Region: name}
			byName[name] = g
		}
		return g
	}
	for _, name := range want {
		get(name)
	}
	for name, out := range gz.OutboundGateways {
		if out == nil || out.Connection == nil {
			continue
		}
		g := get(name)
		g.Outbound = true
		for _, a := range out.Accounts {
			if a.Name == Account && a.InterestMode == server.InterestOnly.String() {
				g.InterestKnown = true
			}
		}
	}
	for name, ins := range gz.InboundGateways {
		get(name).Inbound = len(ins)
	}
	states := make([]GatewayState, 0, len(byName))
	for _, g := range byName {
		states = append(states, *g)
	}
	slices.SortFunc(states, func(a, b GatewayState) int {
		switch {
		case a.Region < b.Region:
			return -1
		case a.Region > b.Region:
			return 1
		}
		return 0
	})
	return states
}

// gatewaysFormed reports whether srv delivers to every region in want.
func gatewaysFormed(srv *server.Server, want []string) bool {
	for _, g := range gatewayStates(srv, want) {
		if slices.Contains(want, g.Region) && !g.Up() {
			return false
		}
	}
	return true
}

// gatewayInterest reports whether some region has told srv of a
// subscription matching subject in Account (wildcards included): a
// publish of subject here would cross a gateway.
func gatewayInterest(srv *server.Server, subject string) bool {
	gz, err := srv.Gatewayz(&server.GatewayzOptions{AccountName: Account, AccountSubscriptions: true})
	if err != nil {
		return false
	}
	for _, out := range gz.OutboundGateways {
		if out == nil || out.Connection == nil {
			continue
		}
		for _, a := range out.Accounts {
			if a.Name != Account {
				continue
			}
			for _, sub := range a.Subs {
				if server.SubjectMatchesFilter(subject, sub) {
					return true
				}
			}
		}
	}
	return false
}

// WaitGatewaysFormed waits until this server delivers to every region it
// is configured to join (see GatewayState.Up), polling until ctx ends.
func (s *Server) WaitGatewaysFormed(ctx context.Context) error {
	want := s.RegionNames()
	if len(want) == 0 {
		return nil
	}
	err := s.poll(ctx, func(srv *server.Server) bool { return gatewaysFormed(srv, want) })
	if err != nil {
		return fmt.Errorf("wait for gateways to %v (missing %v): %w", want, s.MissingRegions(), err)
	}
	return nil
}

// GatewayAddr is the resolved host:port of the gateway listener, or empty
// without gateways or before Start.
func (s *Server) GatewayAddr() string {
	srv := s.NATS()
	if srv == nil {
		return ""
	}
	if a := srv.GatewayAddr(); a != nil {
		return a.String()
	}
	return ""
}

// gatewayHost is the host other regions dial this server at: the
// advertised one, else the gateway listener's, or "" when that is every
// interface or there is no gateway.
func (c Config) gatewayHost() string {
	addr := c.GatewayAdvertise
	if addr == "" {
		addr = c.GatewayAddr
	}
	return dialledHost(addr)
}
