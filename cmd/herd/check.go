package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/herdhq/herd/cmd/internal/herdrun"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
)

type checkCmd struct {
	Config   string `short:"c" required:"" help:"Herd file (YAML) to check."`
	Name     string `short:"n" help:"Check this node as 'herd node --name' would start it: its secrets and route certificate, with {node} in paths resolved for it. Default: every node."`
	FileOnly bool   `help:"Check only the herd file (and that --name is in it), not the secrets and certificates it names: what a reload (SIGHUP) takes; they take a restart."`
}

// Run checks the herd file as herd node reads it at start and on SIGHUP:
// its fields, and (unless --file-only) for each node checked the secrets
// it names (from the environment or files) and its route TLS files:
// readable, a key that matches, a certificate signed by the CA that names
// the node's cluster host; then what herd node refuses of the node's
// config before it listens (herdrun.Check: open routes off loopback, say).
// Every problem names its field; any problem
// exits non-zero, so the unit's ExecStartPre refuses to start a node that
// would not work, and its ExecReload to send SIGHUP with a broken file.
func (c *checkCmd) Run(_ context.Context, e env) error {
	hf, err := herdfile.Load(c.Config)
	if err != nil {
		return err
	}
	names := hf.Names()
	if c.Name != "" {
		if _, ok := hf.Node(c.Name); !ok {
			return fmt.Errorf("--name %s: %w (have %s)", c.Name, herdrun.ErrUnknownNode, strings.Join(hf.Names(), ", "))
		}
		names = []string{c.Name}
	}
	if c.FileOnly {
		fmt.Fprintf(e.stdout, "%s: ok (%d nodes; the file only)\n", c.Config, len(hf.Nodes))
		return nil
	}
	var errs []error
	for _, name := range names {
		for _, err := range checkNode(hf, name, e.getenv) {
			errs = append(errs, fmt.Errorf("node %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("check %s: %d problems:\n%w", c.Config, len(errs), errors.Join(errs...))
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d nodes; checked secrets and certificates of %s)\n", c.Config, len(hf.Nodes), strings.Join(names, ", "))
	return nil
}

// checkNode checks what node name reads at start besides the file itself,
// and then, if all of that is there, what herd node refuses of the node's
// config before it listens (herdrun.Check).
func checkNode(hf herdfile.Config, name string, getenv func(string) string) []error {
	nf := hf.ForNode(name)
	var errs []error
	sec, err := herdrun.LoadSecurity(nf, getenv)
	if err != nil {
		errs = append(errs, err)
	}
	if nf.Places.Provider != herdfile.ProviderOffline {
		if _, err := nf.PlacesKey(getenv); err != nil {
			errs = append(errs, err)
		}
	}
	if nf.TLS.Routes.Enabled() {
		n, _ := nf.Node(name)
		hosts := []certHost{{hostOf(n.Cluster), "cluster", "its peers would refuse its routes"}}
		// Gateways take the route certificate too (README Regions): the
		// other regions dial the gateway host and expect it named.
		if gw := hostOf(n.Gateway); gw != "" && gw != hosts[0].host {
			hosts = append(hosts, certHost{gw, "gateway", "the other regions would refuse its gateway"})
		}
		if err := checkRouteTLS(nf.TLS.Routes, name, hosts); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Check would only say again, with less detail, that a secret or
		// a file is missing.
		return errs
	}
	if err := herdrun.Check(nf, name, sec, getenv); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// certHost is a host the route certificate must name, what the node
// listens for there, and what follows if the certificate does not name it.
type certHost struct{ host, what, unnamed string }

// hostOf returns the host of a host:port address, or "" for none.
func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

// checkRouteTLS checks node's route TLS files: each readable, the key
// matching the certificate, the certificate signed by the CA for both
// server and client use and naming each of hosts (where the peers, and
// the other regions' gateways, dial the node and what they expect of it).
func checkRouteTLS(t herdfile.RouteTLS, node string, hosts []certHost) error {
	cert, key, ca := t.Files(node)
	data := map[string][]byte{}
	for _, f := range []struct{ field, path string }{
		{"tls.routes.cert_file", cert}, {"tls.routes.key_file", key}, {"tls.routes.ca_file", ca},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return &herdfile.FieldError{Field: f.field, Err: herdfile.ErrMissingTLSFile, Detail: err.Error()}
		}
		data[f.field] = b
	}
	cfg, err := embeddednats.RouteTLSConfig(data["tls.routes.cert_file"], data["tls.routes.key_file"], data["tls.routes.ca_file"], t.Verify)
	if err != nil {
		return &herdfile.FieldError{Field: "tls.routes", Err: herdfile.ErrMissingTLSFile, Detail: err.Error()}
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return &herdfile.FieldError{Field: "tls.routes.cert_file", Err: herdfile.ErrMissingTLSFile, Detail: cert + ": " + err.Error()}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: cfg.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return &herdfile.FieldError{Field: "tls.routes.cert_file", Err: herdfile.ErrMissingTLSFile,
			Detail: fmt.Sprintf("%s is not valid for routes under the CA %s: %v", cert, ca, err)}
	}
	for _, h := range hosts {
		if h.host == "" {
			continue
		}
		if err := embeddednats.CheckRouteCert(cfg, h.host); err != nil {
			return &herdfile.FieldError{Field: "tls.routes.cert_file", Err: herdfile.ErrMissingTLSFile,
				Detail: fmt.Sprintf("%s: %v (node %s's %s host): %s", cert, err, node, h.what, h.unnamed)}
		}
	}
	return nil
}
