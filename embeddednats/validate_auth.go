package embeddednats

import (
	"crypto/tls"
	"fmt"
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
	return nil
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
