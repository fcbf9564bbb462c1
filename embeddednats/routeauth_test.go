package embeddednats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// refusedWindow is how long a refused server is watched for log lines.
const refusedWindow = 3 * time.Second

// watchRefused checks that s stays alone for refusedWindow while it dials
// a herd that refuses it, and returns the log lines per second that both
// logs collected in that window.
func watchRefused(t *testing.T, s *Server, logs ...*captureHandler) float64 {
	t.Helper()
	before := 0
	for _, l := range logs {
		before += len(l.records())
	}
	start := time.Now()
	for time.Since(start) < refusedWindow {
		if n := s.NumPeers(); n != 0 {
			t.Fatalf("%s joined %d peers, want refused", s.Name(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := 0
	for _, l := range logs {
		after += len(l.records())
	}
	rate := float64(after-before) / time.Since(start).Seconds()
	for _, l := range logs {
		for _, r := range l.records()[max(0, len(l.records())-4):] {
			t.Logf("sample log line: %s %s", r.Level, r.Message)
		}
	}
	return rate
}

// maxRefusedLogRate bounds log lines per second (all levels, both ends)
// while a server is refused: nats-server redials once a second, so a
// handful per attempt; a hot loop would be thousands.
const maxRefusedLogRate = 10

// A server with the wrong route password never joins and its redials stay
// slow; with the right one it joins.
func TestServer_routeAuth(t *testing.T) {
	auth := func(pw Secret) func(*Config) {
		return func(c *Config) { c.RouteUser, c.RoutePassword = "herd", pw }
	}
	aLogs := newCapture(slog.LevelInfo)
	ca := testConfig(t, "A")
	auth("right-horse-battery")(&ca)
	ca.Logger = slog.New(teeHandler{aLogs, ca.Logger.Handler()})
	a := startServer(t, ca)

	for _, tt := range []struct {
		name    string
		cfg     func(*Config)
		refusal string // what A logs
	}{
		{"wrong password", auth("wrong-staple"), "route password mismatch with X"},
		{"no credentials", func(*Config) {}, "does not say which node it is"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(slog.LevelInfo)
			c := testConfig(t, "X")
			tt.cfg(&c)
			c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
			c.Routes = []string{a.ClusterAddr()}
			refused := aLogs.count(tt.refusal)
			x := startServer(t, c)
			waitFor(t, "A to refuse a route", func() bool { return aLogs.count(tt.refusal) > refused })
			rate := watchRefused(t, x, logs, aLogs)
			t.Logf("refused (%s): %.1f log lines/s over %v, both ends", tt.name, rate, refusedWindow)
			if rate > maxRefusedLogRate {
				t.Errorf("%.1f log lines/s while refused, want <= %d", rate, maxRefusedLogRate)
			}
			if a.NumPeers() != 0 {
				t.Errorf("A has peers %v", a.Peers())
			}
			_ = x.Close()
		})
	}

	bc := testConfig(t, "B")
	auth("right-horse-battery")(&bc)
	bc.Routes = []string{a.ClusterAddr()}
	b := startServer(t, bc)
	cc := testConfig(t, "C") // learns A by gossip: dials it with its own credentials
	auth("right-horse-battery")(&cc)
	cc.Routes = []string{b.ClusterAddr()}
	c := startServer(t, cc)
	waitMesh(t, a, b, c)
}

// testPKI is a CA and the certificates it issues, all ECDSA P-256.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for a node at 127.0.0.1, usable
// as TLS server and client.
func (ca *testPKI) issue(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issueFor(t, name, "127.0.0.1")
}

// routeTLS is a node certificate from issuer, trusting trust.
func routeTLS(t *testing.T, issuer, trust *testPKI, name string) *tls.Config {
	t.Helper()
	cert, key := issuer.issue(t, name)
	c, err := RouteTLSConfig(cert, key, trust.pem, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TLS routes: nodes with certificates of the herd's CA form the herd; a
// node whose certificate another CA signed, or that trusts another CA, is
// refused at the TLS handshake and redials slowly.
func TestServer_routeTLS(t *testing.T) {
	herdCA, otherCA := newTestCA(t, "herd CA"), newTestCA(t, "other CA")
	aLogs := newCapture(slog.LevelInfo)
	ca := testConfig(t, "A")
	ca.RouteTLS = routeTLS(t, herdCA, herdCA, "A")
	ca.Logger = slog.New(teeHandler{aLogs, ca.Logger.Handler()})
	a := startServer(t, ca)

	for _, tt := range []struct {
		name          string
		issuer, trust *testPKI
	}{
		{"certificate from another CA", otherCA, herdCA},
		{"trusts another CA", herdCA, otherCA},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(slog.LevelInfo)
			c := testConfig(t, "X")
			c.RouteTLS = routeTLS(t, tt.issuer, tt.trust, "X")
			c.Logger = slog.New(teeHandler{logs, c.Logger.Handler()})
			c.Routes = []string{a.ClusterAddr()}
			failed := aLogs.count("TLS route handshake error")
			x := startServer(t, c)
			waitFor(t, "a failed TLS handshake", func() bool {
				return aLogs.count("TLS route handshake error") > failed
			})
			rate := watchRefused(t, x, logs, aLogs)
			t.Logf("refused (%s): %.1f log lines/s over %v, both ends", tt.name, rate, refusedWindow)
			if rate > maxRefusedLogRate {
				t.Errorf("%.1f log lines/s while refused, want <= %d", rate, maxRefusedLogRate)
			}
			_ = x.Close()
		})
	}

	bc := testConfig(t, "B")
	bc.RouteTLS = routeTLS(t, herdCA, herdCA, "B")
	bc.Routes = []string{a.ClusterAddr()}
	b := startServer(t, bc)
	cc := testConfig(t, "C")
	cc.RouteTLS = routeTLS(t, herdCA, herdCA, "C")
	cc.Routes = []string{"nats-route://" + b.ClusterAddr()}
	c := startServer(t, cc)
	waitMesh(t, a, b, c)
	vz, err := a.NATS().Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vz.Cluster.TLSRequired || !vz.Cluster.TLSVerify {
		t.Errorf("A's cluster TLS required %v verify %v, want both", vz.Cluster.TLSRequired, vz.Cluster.TLSVerify)
	}
}

func TestLoadRouteTLS(t *testing.T) {
	ca := newTestCA(t, "herd CA")
	cert, key := ca.issue(t, "A")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certF, keyF, caF := write("a.pem", cert), write("a-key.pem", key), write("ca.pem", ca.pem)
	c, err := LoadRouteTLS(certF, keyF, caF, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Errorf("config = %+v", c)
	}
	if c, err := LoadRouteTLS(certF, keyF, caF, false); err != nil || c.ClientAuth != tls.NoClientCert {
		t.Errorf("verify=false: %v, ClientAuth %v", err, c.ClientAuth)
	}
	for _, tt := range []struct{ name, cert, key, ca, want string }{
		{"missing cert", filepath.Join(dir, "nope.pem"), keyF, caF, "nope.pem"},
		{"missing key", certF, filepath.Join(dir, "nokey.pem"), caF, "nokey.pem"},
		{"missing ca", certF, keyF, filepath.Join(dir, "noca.pem"), "noca.pem"},
		{"key mismatch", certF, write("other-key.pem", mustKey(t, ca)), caF, "certificate and key"},
		{"ca not pem", certF, keyF, write("bad-ca.pem", []byte("junk")), "CA"},
	} {
		_, err := LoadRouteTLS(tt.cert, tt.key, tt.ca, true)
		if err == nil || !errors.Is(err, ErrRouteTLS) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrRouteTLS naming %s", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: error shows key material: %v", tt.name, err)
		}
	}
}

func mustKey(t *testing.T, ca *testPKI) []byte {
	_, key := ca.issue(t, "other")
	return key
}
