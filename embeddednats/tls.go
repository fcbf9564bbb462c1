package embeddednats

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// RouteTLSConfig builds Config.RouteTLS from PEM data: this server's
// certificate chain and private key, and the CA certificates that signed
// the herd's servers. Every server it dials must present a certificate
// the CA signed for the dialled host (an IP SAN for an IP address). With
// verify, a server that dials this one must present one too (mutual TLS):
// without it, anyone can open a route to this server.
//
// Errors wrap ErrRouteTLS and never contain key material.
func RouteTLSConfig(certPEM, keyPEM, caPEM []byte, verify bool) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate and key: %v", ErrRouteTLS, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: CA: no PEM certificate found", ErrRouteTLS)
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
	}
	if verify {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// LoadRouteTLS reads PEM files and calls RouteTLSConfig. Errors name the
// file that failed (the path, never its contents).
func LoadRouteTLS(certFile, keyFile, caFile string, verify bool) (*tls.Config, error) {
	read := func(what, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %w", ErrRouteTLS, what, err)
		}
		return b, nil
	}
	cert, err := read("certificate", certFile)
	if err != nil {
		return nil, err
	}
	key, err := read("key", keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := read("CA", caFile)
	if err != nil {
		return nil, err
	}
	return RouteTLSConfig(cert, key, ca, verify)
}

// CheckRouteCert reports whether the certificate of t (its first) names
// host, as a DNS or IP SAN: the host the other servers dial this one at,
// and the one its peers expect of it (Config.PeersOnly). The error wraps
// ErrRouteCertName and says what the certificate names instead.
func CheckRouteCert(t *tls.Config, host string) error {
	if t == nil || len(t.Certificates) == 0 || len(t.Certificates[0].Certificate) == 0 {
		return fmt.Errorf("%w: no certificate", ErrRouteTLS)
	}
	leaf := t.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(t.Certificates[0].Certificate[0]); err != nil {
			return fmt.Errorf("%w: parse certificate: %v", ErrRouteTLS, err)
		}
	}
	if leaf.VerifyHostname(host) != nil {
		return fmt.Errorf("%w: the route certificate is for %s, not %s", ErrRouteCertName, certNames(leaf), host)
	}
	return nil
}

// routeHost is the host other servers dial this one at: the advertised
// one, else the route listener's, or "" when that is every interface.
func (c Config) routeHost() string {
	addr := c.ClusterAdvertise
	if addr == "" {
		addr = c.ClusterAddr
	}
	return dialledHost(addr)
}

// dialledHost is the host of addr, or "" when it is empty or every
// interface.
func dialledHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil || h == "" {
		return ""
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return h
}

// checkOwnCertificate logs, once at start, when this server's own route
// certificate does not name its route host: every server dialling it then
// fails to verify it, and its peers refuse its routes. The server still
// runs (tests and `herd check` say more), but the operator learns why it
// stays alone.
func (s *Server) checkOwnCertificate() {
	if s.cfg.RouteTLS == nil {
		return
	}
	if host := s.cfg.routeHost(); host != "" {
		if err := CheckRouteCert(s.cfg.RouteTLS, host); err != nil {
			s.log.Error("route certificate of this node does not name its route host: servers dialling it will not verify it and its peers refuse its routes",
				"err", err, "route_host", host)
		}
	}
	// Gateways use the same certificate: the other regions dial this host.
	if host := s.cfg.gatewayHost(); host != "" {
		if err := CheckRouteCert(s.cfg.RouteTLS, host); err != nil {
			s.log.Error("route certificate of this node does not name its gateway host: other regions' servers dialling it will not verify it",
				"err", err, "gateway_host", host)
		}
	}
}
