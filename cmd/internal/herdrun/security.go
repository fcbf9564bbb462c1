package herdrun

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
)

// ErrNoSecurity is returned by Start when the herd file asks for route
// authentication or TLS but Start was not given the Security to apply.
var ErrNoSecurity = errors.New("herd file asks for route auth or TLS: start with WithSecurity")

// GeneratedRouteUser is the route user of a herd whose route password
// `herd up` generated.
const GeneratedRouteUser = "herd"

// Security is what a herd file's auth and tls sections resolve to: the
// passwords, read once from the environment or files, and the route TLS
// files. It never prints its secrets.
type Security struct {
	routeUser      string
	routePassword  embeddednats.Secret
	generated      bool // routePassword was generated, not configured
	systemUser     string
	systemPassword embeddednats.Secret
	tls            herdfile.RouteTLS
}

// LoadSecurity reads the passwords hf's auth section points at. Errors
// name the herd file field and never contain a password.
func LoadSecurity(hf herdfile.Config, getenv func(string) string) (*Security, error) {
	rpw, err := hf.RoutePassword(getenv)
	if err != nil {
		return nil, err
	}
	spw, err := hf.SystemPassword(getenv)
	if err != nil {
		return nil, err
	}
	s := &Security{tls: hf.TLS.Routes}
	if rpw != "" {
		s.routeUser, s.routePassword = hf.Auth.Routes.User, embeddednats.Secret(rpw)
	}
	if spw != "" {
		s.systemUser, s.systemPassword = hf.Auth.System.User, embeddednats.Secret(spw)
	}
	return s, nil
}

// GenerateRouteAuth gives a herd without route credentials a random
// password for this run, and reports whether it did. Only safe when every
// node of the herd runs in this process (herd up): nodes elsewhere could
// not know it.
func (s *Security) GenerateRouteAuth() bool {
	if s.routePassword != "" {
		return false
	}
	s.routeUser, s.routePassword, s.generated = GeneratedRouteUser, embeddednats.Secret(rand.Text()), true
	return true
}

// RouteAuth reports whether routes require credentials, and whether the
// password was generated for this run.
func (s *Security) RouteAuth() (on, generated bool) { return s.routePassword != "", s.generated }

// RouteTLS reports whether routes use TLS.
func (s *Security) RouteTLS() bool { return s.tls.Enabled() }

// SystemUser is the system user's name, or "" if it is off.
func (s *Security) SystemUser() string { return s.systemUser }

// Summary is one line for the operator; it names no secret.
func (s *Security) Summary() string {
	routes := "routes: no authentication"
	switch on, gen := s.RouteAuth(); {
	case on && gen:
		routes = "routes: random password for this run"
	case on:
		routes = "routes: user " + s.routeUser
	}
	if s.RouteTLS() {
		routes += ", TLS"
	} else {
		routes += ", no TLS"
	}
	sys := "system user: off (no auth.system password)"
	if s.systemUser != "" {
		sys = "system user: " + s.systemUser
	}
	return "observers may watch herd.> without credentials; " + routes + "; " + sys
}

// apply sets cfg's NATS security for node name, loading its TLS files.
func (s *Security) apply(cfg *node.Config, name string) error {
	cfg.NATS.RouteUser, cfg.NATS.RoutePassword = s.routeUser, s.routePassword
	if s.systemPassword != "" {
		cfg.NATS.SystemUser, cfg.NATS.SystemPassword = s.systemUser, s.systemPassword
	}
	if !s.tls.Enabled() {
		return nil
	}
	cert, key, ca := s.tls.Files(name)
	t, err := embeddednats.LoadRouteTLS(cert, key, ca, s.tls.Verify)
	if err != nil {
		return fmt.Errorf("tls.routes for node %s: %w", name, err)
	}
	cfg.NATS.RouteTLS = t
	return nil
}

// needsSecurity reports whether hf asks for something only a Security
// can apply.
func needsSecurity(hf herdfile.Config) bool {
	return hf.Auth.Routes.User != "" || hf.TLS.Routes.Enabled()
}

// Option configures Start.
type Option func(*startOptions)

type startOptions struct {
	sec *Security
}

// WithSecurity applies sec's route credentials, route TLS and system user
// to every node Start starts.
func WithSecurity(sec *Security) Option { return func(o *startOptions) { o.sec = sec } }

// warnOpenRoutes says once per Start when any server that reaches a route
// port may join the herd (and so publish on the bus).
func warnOpenRoutes(sec *Security, log *slog.Logger) {
	if sec != nil {
		if on, _ := sec.RouteAuth(); on || sec.RouteTLS() {
			return
		}
	}
	log.Warn("cluster routes are open: any NATS server that reaches a cluster port can join the herd; " +
		"set auth.routes.user (password from HERD_ROUTE_PASSWORD) or tls.routes, see README Security")
}

// herdFileError names the herd file setting behind a refusal the node
// reports in its own terms.
func herdFileError(err error, cfg node.Config) error {
	if errors.Is(err, embeddednats.ErrOpenRoutes) {
		what, addr := "cluster address", cfg.NATS.ClusterAddr
		if embeddednats.IsLoopback(addr) {
			what, addr = "gateway address", cfg.NATS.GatewayAddr // gateways take the routes' settings
		}
		return &herdfile.FieldError{Field: "auth.routes.insecure", Err: embeddednats.ErrOpenRoutes,
			Detail: fmt.Sprintf("%s %s is not loopback and routes have neither authentication nor verified TLS; "+
				"set auth.routes.user (password from HERD_ROUTE_PASSWORD) or tls.routes (verify: true), "+
				"or auth.routes.insecure: true to let any server that reaches the port join the herd", what, addr)}
	}
	return err
}

// String is Summary, so that printing a Security never shows a secret.
func (s Security) String() string { return s.Summary() }

// GoString is Summary too, for %#v.
func (s Security) GoString() string { return s.Summary() }
