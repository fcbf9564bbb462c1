package embeddednats

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// Errors returned by Validate (wrapped, with the field named) and by the
// Server's lifecycle methods. Check them with errors.Is.
var (
	ErrName           = errors.New("invalid server name")
	ErrClusterName    = errors.New("invalid cluster name")
	ErrClientAddr     = errors.New("invalid client address")
	ErrClusterAddr    = errors.New("invalid cluster address")
	ErrAdvertise      = errors.New("invalid cluster advertise address")
	ErrRoute          = errors.New("invalid route")
	ErrMonitorAddr    = errors.New("invalid monitor address")
	ErrConnectRetries = errors.New("invalid connect retries")
	ErrSystemUser     = errors.New("invalid system user")
	ErrRouteAuth      = errors.New("invalid route credentials")
	ErrRouteTLS       = errors.New("invalid route TLS")
	ErrObserver       = errors.New("invalid observer permissions")
	ErrOpenRoutes     = errors.New("open routes off loopback")
	ErrPeer           = errors.New("invalid peer")
	ErrRouteCertName  = errors.New("route certificate does not name this server's route host")
	ErrGatewayAddr    = errors.New("invalid gateway address")
	ErrRegion         = errors.New("invalid region")
	ErrNoChaos        = errors.New("chaos gate not enabled (Config.Chaos)")
	ErrUnknownPeer    = errors.New("not a peer of this server")

	ErrStarted  = errors.New("server already started")
	ErrNotReady = errors.New("server not running")
	ErrClosed   = errors.New("server closed")
	ErrFatal    = errors.New("nats server fatal error")
)

// DefaultClusterName is the one NATS cluster name of a herd.
const DefaultClusterName = "herd"

// DefaultConnectRetries makes nats-server redial gossip-learned (implicit)
// routes practically forever (at one attempt per second, ~68 years), so the
// mesh heals after a partition of any length. nats-server treats 0 and
// negative values alike: one attempt, no retry.
const DefaultConnectRetries = math.MaxInt32

// reconnectErrorReports is how many failed route redials nats-server counts
// before logging one at error level (the first failure is always logged).
// Its default of 1 logs every second while a neighbor is down.
const reconnectErrorReports = 60

// Config configures one embedded nats-server.
type Config struct {
	// Name is the server name, the herd node's name. It must be a NATS
	// token: ASCII letters, digits, '_' and '-'.
	Name string
	// ClusterName is the NATS cluster name, the same for the whole herd.
	ClusterName string
	// ClientAddr is host:port of the NATS client listener (observers and
	// tools; the node itself connects in-process). Port 0 picks a free port.
	ClientAddr string
	// ClusterAddr is host:port of the route listener. Port 0 picks a free
	// port; ask Server.ClusterAddr after Start.
	ClusterAddr string
	// ClusterAdvertise, if set, is the host:port other servers learn by
	// gossip to dial this one (behind NAT or a proxy). Empty: the listener's.
	ClusterAdvertise string
	// Routes are the neighbors' route addresses, as "nats-route://host:port"
	// or plain "host:port". They are redialled forever after a cut.
	Routes []string
	// Peers are the other servers of the herd (peers.go). Each with a known
	// port is dialled like Routes, so the mesh does not depend on gossip;
	// SetPeers changes them while the server runs.
	Peers []Peer
	// PeersOnly accepts routes only from Peers, each identified by name and,
	// when RouteTLS verifies diallers, by a certificate naming its host.
	PeersOnly bool
	// Chaos lets BlockRoutes cut this server's routes to chosen peers, or
	// all of them, while it runs (gate.go), and gives the node an
	// in-process connection in SystemAccount (ConnectSystem) for the
	// chaos service. Routes then always name their node (routeUser).
	Chaos bool
	// MonitorAddr is host:port of nats-server's HTTP monitoring endpoint.
	// Empty disables it; port 0 picks a free port.
	MonitorAddr string
	// ConnectRetries is how often gossip-learned routes are redialled
	// (once a second) after a failed dial. 0 means nats-server's default
	// of a single attempt. Must not be negative.
	ConnectRetries int
	// Debug and Trace turn on nats-server's debug and protocol trace logs.
	Debug, Trace bool
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// OnRouteClosed, if set, is told of every route connection to another
	// server of the cluster that closes, with the remote server's name
	// ("" if it closed before the remote said it) and the reason
	// (ReasonLabel). A route that closes loses the messages queued on it
	// and those published until its interest is back (routeclosed.go), so
	// the node repairs with the remote once it is back. It is called on
	// nats-server's goroutines and must not block.
	OnRouteClosed func(remote, reason string)

	// Every server has two accounts, Account and SystemAccount. The
	// node's in-process connection (Connect) authenticates with an nkey
	// generated by New, with full rights in Account. A client connection
	// without credentials is ObserverUser in Account, allowed only what
	// the Observer fields say.

	// ObserverSubscribe are the subjects observers may subscribe to.
	// Empty: none.
	ObserverSubscribe []string
	// ObserverPublish are the subjects observers may publish to (requests
	// to the herd's services). Empty: none.
	ObserverPublish []string
	// ObserverDenyPublish are subjects observers may never publish to,
	// even if ObserverPublish matches them: the bus.
	ObserverDenyPublish []string
	// ObserverDenySubscribe are subjects observers may not subscribe to,
	// even if ObserverSubscribe matches them: the service subjects. A
	// wildcard subscription that covers them (herd.>) is allowed but never
	// delivers their messages. Observers never join a queue group.
	ObserverDenySubscribe []string
	// ObserverLimits bound the client port's connections (observer.go).
	ObserverLimits ObserverLimits
	// SystemUser and SystemPassword, when SystemPassword is set, are a
	// user in SystemAccount, for `nats server list` and `nats server
	// report routes`. The server keeps only a bcrypt hash.
	SystemUser     string
	SystemPassword Secret
	// RouteUser and RoutePassword, when set, are the credentials every
	// route must present and that this server presents when it dials one
	// (explicit or gossip-learned). Both or neither.
	RouteUser     string
	RoutePassword Secret
	// RoutePasswordHint says where the route password comes from (e.g.
	// "HERD_ROUTE_PASSWORD"), for the line that reports a mismatch.
	RoutePasswordHint string
	// RouteTLS, when set, makes every route TLS: this server's
	// certificate, RootCAs to verify the servers it dials and, with
	// ClientAuth RequireAndVerifyClientCert, ClientCAs to verify the
	// servers that dial it. See RouteTLSConfig.
	RouteTLS *tls.Config
	// InsecureRoutes lets a server whose ClusterAddr (or GatewayAddr) is
	// not loopback run without route credentials or verified TLS, where
	// any server that reaches the port may join and publish on the bus.
	// Validate refuses that unless it is set.
	InsecureRoutes bool

	// Regions (gateway.go). ClusterName is this server's region.

	// GatewayAddr is host:port of the gateway listener, through which the
	// other regions' servers reach this one. Empty: no gateways (a herd
	// of one region). Port 0 picks a free port; ask Server.GatewayAddr.
	GatewayAddr string
	// GatewayAdvertise, if set, is the host:port other regions learn by
	// gossip to dial this server. Empty: the listener's.
	GatewayAdvertise string
	// Regions are the herd's other regions, each joined through a gateway
	// of this server. Needs GatewayAddr.
	Regions []Region

	// Options, if set, is called last on the built server options, for
	// settings this Config does not carry.
	Options func(*server.Options)
}

// DefaultConfig returns a Config with loopback listeners on free ports, the
// herd cluster name and forever-retried implicit routes. Name is left empty.
func DefaultConfig() Config {
	return Config{
		ClusterName:    DefaultClusterName,
		ClientAddr:     "127.0.0.1:0",
		ClusterAddr:    "127.0.0.1:0",
		ConnectRetries: DefaultConnectRetries,
		Logger:         slog.Default(),
		// Observers watch the herd's subjects and get replies on inboxes.
		ObserverSubscribe: []string{"herd.>", "_INBOX.>"},
		// The herd's request/reply services and NATS micro discovery.
		ObserverPublish: []string{"herd.iamat", "herd.whatsat", "$SRV.>"},
		// The flood and anti-entropy subjects belong to the nodes.
		ObserverDenyPublish: []string{"herd.at.>", "herd.sync.>"},
		// The service's own subjects: a subscriber there sees every
		// request (and in a queue group would take them).
		ObserverDenySubscribe: []string{"herd.iamat", "herd.whatsat", "$SRV.>"},
		ObserverLimits:        DefaultObserverLimits(),
		SystemUser:            DefaultSystemUser,
	}
}

// Validate checks every field and returns the first problem, naming the
// field and wrapping one of the ErrXxx values.
func (c Config) Validate() error {
	if !IsToken(c.Name) {
		return fmt.Errorf("field Name %q: %w: want letters, digits, '_' or '-'", c.Name, ErrName)
	}
	if !IsToken(c.ClusterName) {
		return fmt.Errorf("field ClusterName %q: %w: want letters, digits, '_' or '-'", c.ClusterName, ErrClusterName)
	}
	if _, _, err := splitAddr(c.ClientAddr, true); err != nil {
		return fmt.Errorf("field ClientAddr %q: %w: %v", c.ClientAddr, ErrClientAddr, err)
	}
	if _, _, err := splitAddr(c.ClusterAddr, true); err != nil {
		return fmt.Errorf("field ClusterAddr %q: %w: %v", c.ClusterAddr, ErrClusterAddr, err)
	}
	if c.ClusterAdvertise != "" {
		if _, _, err := splitAddr(c.ClusterAdvertise, false); err != nil {
			return fmt.Errorf("field ClusterAdvertise %q: %w: %v", c.ClusterAdvertise, ErrAdvertise, err)
		}
	}
	for i, r := range c.Routes {
		if _, err := parseRoute(r); err != nil {
			// The route may carry a password: name it by index only.
			return fmt.Errorf("field Routes[%d]: %w: %v", i, ErrRoute, redactErr(err, r))
		}
	}
	if c.MonitorAddr != "" {
		if _, _, err := splitAddr(c.MonitorAddr, true); err != nil {
			return fmt.Errorf("field MonitorAddr %q: %w: %v", c.MonitorAddr, ErrMonitorAddr, err)
		}
	}
	if c.ConnectRetries < 0 {
		return fmt.Errorf("field ConnectRetries %d: %w: must not be negative (nats-server treats it as no retry)", c.ConnectRetries, ErrConnectRetries)
	}
	if err := validatePeers(c.Name, c.Peers); err != nil {
		return err
	}
	if err := c.ObserverLimits.validate(); err != nil {
		return err
	}
	if err := c.validateGateways(); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	return c.validateGatewaysSecure()
}

// IsToken reports whether s is a non-empty NATS subject token made of ASCII
// letters, digits, '_' and '-', as herd node and cluster names must be.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// splitAddr splits host:port. An empty host means all interfaces. Port 0 is
// allowed only for listeners (anyPort).
func splitAddr(addr string, anyPort bool) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in 0..65535", p)
	}
	if port == 0 && !anyPort {
		return "", 0, errors.New("port 0 is only allowed for listeners")
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

// parseRoute accepts "nats-route://host:port" (or nats://) and "host:port".
// User info in a URL is kept (route credentials).
func parseRoute(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		h, _, err := net.SplitHostPort(s)
		if err == nil && h == "" {
			err = errors.New("missing host")
		}
		if err != nil {
			return nil, err
		}
		if _, _, err := splitAddr(s, false); err != nil {
			return nil, err
		}
		return &url.URL{Scheme: "nats-route", Host: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "nats-route" && u.Scheme != "nats" {
		return nil, fmt.Errorf("scheme %q: want nats-route", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("missing host")
	}
	if _, _, err := splitAddr(u.Host, false); err != nil {
		return nil, err
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("unexpected path, query or fragment")
	}
	return &url.URL{Scheme: "nats-route", User: u.User, Host: u.Host}, nil
}

// listenPort maps the conventional "0 = any free port" to nats-server's
// RANDOM_PORT (-1); nats-server reads 0 as "default port" or "disabled".
func listenPort(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

// options builds the nats-server options of a validated Config. It is the
// one place that translates Config into nats-server settings; auth, TLS and
// accounts go here.
// node is the in-process connection's identity and system the chaos
// service's (in SystemAccount); nil leaves one out.
func (c Config) options(node, system *nodeIdentity) (*server.Options, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	host, port, _ := splitAddr(c.ClientAddr, true)
	chost, cport, _ := splitAddr(c.ClusterAddr, true)

	o := &server.Options{
		ServerName: c.Name,
		Host:       host,
		Port:       listenPort(port),
		// The server's signal handler would exit the whole process.
		NoSigs: true,
		Debug:  c.Debug,
		Trace:  c.Trace,
		// Report the first failed route redial, then one per minute.
		ReconnectErrorReports: reconnectErrorReports,
		Cluster: server.ClusterOpts{
			Name:           c.ClusterName,
			Host:           chost,
			Port:           listenPort(cport),
			Advertise:      c.ClusterAdvertise,
			ConnectRetries: c.ConnectRetries,
		},
	}
	if err := c.applyAuth(o, node, system); err != nil {
		return nil, err
	}
	c.applyRoutes(o, c.Peers, nil)
	c.applyGateways(o)
	c.ObserverLimits.apply(o)
	if c.MonitorAddr != "" {
		mhost, mport, _ := splitAddr(c.MonitorAddr, true)
		o.HTTPHost = mhost
		o.HTTPPort = listenPort(mport)
	}
	if c.Options != nil {
		c.Options(o)
	}
	sortForReload(o)
	return o, nil
}

// sortForReload puts o's lists in the order nats-server's ReloadOptions
// sorts them in, in place, in the options the running server reads while
// its route goroutines read them too (a data race): sorted, they are not
// written. SetPeers and BlockRoutes reload the options.
func sortForReload(o *server.Options) {
	slices.SortFunc(o.Accounts, func(a, b *server.Account) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Users, func(a, b *server.User) int { return strings.Compare(a.Username, b.Username) })
	slices.SortFunc(o.Nkeys, func(a, b *server.NkeyUser) int { return strings.Compare(a.Nkey, b.Nkey) })
	slices.SortFunc(o.Routes, func(a, b *url.URL) int { return strings.Compare(a.String(), b.String()) })
	slices.SortFunc(o.Gateway.Gateways, func(a, b *server.RemoteGatewayOpts) int { return strings.Compare(a.Name, b.Name) })
}
