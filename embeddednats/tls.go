package embeddednats

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
