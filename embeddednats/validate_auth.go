package embeddednats

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// validateAuth checks the observer, system user, route credential and
// route TLS fields. Errors never contain a password.
func (c Config) validateAuth() error {
	for _, f := range []struct {
		name     string
		subjects []string
	}{
		{"ObserverSubscribe", c.ObserverSubscribe},
		{"ObserverPublish", c.ObserverPublish},
		{"ObserverDenyPublish", c.ObserverDenyPublish},
		{"ObserverDenySubscribe", c.ObserverDenySubscribe},
	} {
		for i, s := range f.subjects {
			if !server.IsValidSubject(s) {
				return fmt.Errorf("field %s[%d] %q: %w: not a NATS subject", f.name, i, s, ErrObserver)
			}
		}
	}
	if c.SystemPassword != "" && !printable(c.SystemUser) {
		return fmt.Errorf("field SystemUser %q: %w: want visible ASCII, no spaces", c.SystemUser, ErrSystemUser)
	}
	if c.SystemPassword != "" && c.SystemUser == observerUser {
		return fmt.Errorf("field SystemUser %q: %w: the observer's name", c.SystemUser, ErrSystemUser)
	}
	switch {
	case c.RouteUser != "" && c.RoutePassword == "":
		return fmt.Errorf("field RoutePassword: %w: empty while RouteUser is set", ErrRouteAuth)
	case c.RouteUser == "" && c.RoutePassword != "":
		return fmt.Errorf("field RouteUser: %w: empty while RoutePassword is set", ErrRouteAuth)
	case c.RouteUser != "" && !printable(c.RouteUser):
		return fmt.Errorf("field RouteUser %q: %w: want visible ASCII, no spaces", c.RouteUser, ErrRouteAuth)
	}
	if t := c.RouteTLS; t != nil {
		switch {
		case len(t.Certificates) == 0 && t.GetCertificate == nil:
			return fmt.Errorf("field RouteTLS: %w: no certificate", ErrRouteTLS)
		case t.RootCAs == nil:
			return fmt.Errorf("field RouteTLS: %w: no RootCAs to verify the servers it dials", ErrRouteTLS)
		case t.ClientAuth >= tls.VerifyClientCertIfGiven && t.ClientCAs == nil:
			return fmt.Errorf("field RouteTLS: %w: ClientAuth verifies but ClientCAs is nil", ErrRouteTLS)
		case t.InsecureSkipVerify:
			return fmt.Errorf("field RouteTLS: %w: InsecureSkipVerify", ErrRouteTLS)
		}
	}
	return c.validateRoutesSecure()
}

// validateRoutesSecure refuses open routes on a cluster address that other
// hosts may reach: there, any server that dials it joins the cluster and
// may publish forged records on the bus. A route is closed by credentials
// or by TLS that verifies the certificate of whoever dials in; TLS without
// that encrypts but lets anyone in.
func (c Config) validateRoutesSecure() error {
	verified := c.RouteTLS != nil && c.RouteTLS.ClientAuth == tls.RequireAndVerifyClientCert
	if c.InsecureRoutes || c.RoutePassword != "" || verified || IsLoopback(c.ClusterAddr) {
		return nil
	}
	return fmt.Errorf("field InsecureRoutes: %w: ClusterAddr %q is not loopback and routes have neither credentials (RouteUser, RoutePassword) nor TLS verifying the servers that dial in (RouteTLS with RequireAndVerifyClientCert); set InsecureRoutes to run with open routes anyway", ErrOpenRoutes, c.ClusterAddr)
}

// IsLoopback reports whether the host of host:port is "localhost" or a
// loopback IP. Other host names are not resolved: they count as reachable
// from elsewhere, as does an empty host (all interfaces).
func IsLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// printable reports whether s is non-empty visible ASCII.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// redactErr is err's message with the user info of the route URL raw (if
// any) replaced, in plain and quoted form.
func redactErr(err error, raw string) string {
	msg := err.Error()
	scheme := strings.Index(raw, "://")
	at := strings.LastIndex(raw, "@")
	if scheme < 0 || at < scheme {
		return msg
	}
	userinfo := raw[scheme+3 : at]
	if userinfo == "" {
		return msg
	}
	quoted := strconv.Quote(userinfo)
	msg = strings.ReplaceAll(msg, quoted[1:len(quoted)-1], redacted)
	return strings.ReplaceAll(msg, userinfo, redacted)
}
