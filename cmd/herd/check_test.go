package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/hosttest"
)

// runBin runs the built herd to completion with env added to this
// process's environment.
func runBin(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(herdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// checkHerd is a two-node herd on two host names with authenticated TLS
// routes, its files in each node's credentials directory ({node}), as the
// shipped hosts file has them.
const checkHerd = `auth:
  routes: {user: herd, password_env: TEST_ROUTE_PW}
tls:
  routes:
    ca_file: "creds/{node}/route-ca.pem"
    cert_file: "creds/{node}/route-cert.pem"
    key_file: "creds/{node}/route-key.pem"
nodes:
  - {name: Alpha, client: "alpha.herd:12001", nats: "alpha.herd:14222", cluster: "alpha.herd:16222", neighbors: [Beta]}
  - {name: Beta, client: "beta.herd:12001", nats: "beta.herd:14222", cluster: "beta.herd:16222", neighbors: [Alpha]}
`

// herd check passes a good file and fails, exit status 1, naming the field
// and the node, on each kind of broken one: a bad field, a missing secret,
// a missing or foreign certificate, an unknown --name.
func TestHerdCheck(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := os.Mkdir(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]hosttest.Host{"Alpha": {Name: "alpha.herd", IP: "10.0.0.1"}, "Beta": {Name: "beta.herd", IP: "10.0.0.2"}}
	if err := hosttest.WritePKI(pki, hosts); err != nil {
		t.Fatal(err)
	}
	// install gives node its credentials: the CA and the certificate and
	// key of certOf.
	install := func(node, certOf string) {
		t.Helper()
		d := filepath.Join(dir, "creds", node)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{"ca.pem": "route-ca.pem", certOf + ".pem": "route-cert.pem", certOf + "-key.pem": "route-key.pem"} {
			b, err := os.ReadFile(filepath.Join(pki, src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, dst), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install("Alpha", "Alpha")
	install("Beta", "Beta")
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("herd.yaml", checkHerd)
	pw := []string{"TEST_ROUTE_PW=route-secret-1"}

	for _, args := range [][]string{{"--config", good}, {"--config", good, "--name", "Beta"}} {
		code, out, errOut := runBin(t, pw, append([]string{"check"}, args...)...)
		if code != 0 || !strings.Contains(out, ": ok (2 nodes") {
			t.Errorf("herd check %v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runBin(t, pw, "check", "--config", filepath.Join(dir, "nope.yaml")); code != 1 || out != "" {
		t.Errorf("missing file: exit %d", code)
	}
	// --file-only (the unit's ExecReload) needs neither the secrets nor the
	// certificates, but still the node in a valid file.
	if code, out, errOut := runBin(t, nil, "check", "--config", good, "--name", "Beta", "--file-only"); code != 0 || !strings.Contains(out, "the file only") {
		t.Errorf("--file-only without secrets: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runBin(t, nil, "check", "--config", good, "--name", "Gamma", "--file-only"); code != 1 || !strings.Contains(errOut, "--name Gamma") {
		t.Errorf("--file-only, node not in the file: exit %d, %q", code, errOut)
	}

	for _, tt := range []struct {
		name string
		file string
		env  []string
		args []string
		want []string // in the error output
	}{
		{"unknown neighbor", write("bad-neighbor.yaml", strings.Replace(checkHerd, "neighbors: [Beta]", "neighbors: [Gamma]", 1)),
			pw, nil, []string{"nodes[0].neighbors[0]", "unknown neighbor", "Gamma"}},
		{"unknown neighbor, file only", filepath.Join(dir, "bad-neighbor.yaml"), nil, []string{"--name", "Beta", "--file-only"},
			[]string{"nodes[0].neighbors[0]", "unknown neighbor"}},
		{"unknown field", write("bad-field.yaml", strings.Replace(checkHerd, "user: herd", "usr: herd", 1)),
			pw, nil, []string{"usr"}},
		{"no route password", good, nil, []string{"--name", "Alpha"}, []string{"node Alpha", "auth.routes.password_env", "TEST_ROUTE_PW"}},
		{"unknown node", good, pw, []string{"--name", "Gamma"}, []string{"--name Gamma", "Alpha, Beta"}},
		{"chaos without a system password", write("chaos.yaml", "chaos: true\n"+checkHerd), pw, []string{"--name", "Alpha"},
			[]string{"node Alpha", "auth.system", "chaos needs the system user", "HERD_SYSTEM_PASSWORD"}},
		{"chaos without the system password the file names", write("chaos-env.yaml", "chaos: true\n"+strings.Replace(checkHerd, "auth:\n", "auth:\n  system: {user: sys, password_env: TEST_SYS_PW}\n", 1)),
			pw, []string{"--name", "Alpha"}, []string{"node Alpha", "auth.system", "chaos needs the system user", "TEST_SYS_PW (auth.system.password_env)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runBin(t, tt.env, append([]string{"check", "--config", tt.file}, tt.args...)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error output lacks %q:\n%s", w, errOut)
				}
			}
		})
	}

	// A gateway the certificate names passes; one on a host it does not
	// name would be refused by the other regions.
	sameGW := write("gateway-ok.yaml", strings.Replace(checkHerd, `cluster: "alpha.herd:16222",`, `cluster: "alpha.herd:16222", gateway: "alpha.herd:17222",`, 1))
	if code, out, errOut := runBin(t, pw, "check", "--config", sameGW, "--name", "Alpha"); code != 0 {
		t.Errorf("gateway on the cluster host: exit %d, %q %q", code, out, errOut)
	}
	otherGW := write("gateway-host.yaml", strings.Replace(checkHerd, `cluster: "alpha.herd:16222",`, `cluster: "alpha.herd:16222", gateway: "gw.alpha.herd:17222",`, 1))
	code, _, errOut := runBin(t, pw, "check", "--config", otherGW, "--name", "Alpha")
	if code != 1 || !strings.Contains(errOut, "node Alpha: tls.routes.cert_file") || !strings.Contains(errOut, "not gw.alpha.herd") ||
		!strings.Contains(errOut, "gateway host") {
		t.Errorf("gateway host the certificate does not name: exit %d\n%s", code, errOut)
	}

	// Beta's credentials directory holds Alpha's certificate: a node
	// started so would be refused by every peer.
	install("Beta", "Alpha")
	code, _, errOut = runBin(t, pw, "check", "--config", good)
	if code != 1 || !strings.Contains(errOut, "node Beta: tls.routes.cert_file") ||
		!strings.Contains(errOut, "is for alpha.herd, 10.0.0.1, not beta.herd") || strings.Contains(errOut, "node Alpha") {
		t.Errorf("foreign certificate: exit %d\n%s", code, errOut)
	}
	if code, _, _ := runBin(t, pw, "check", "--config", good, "--name", "Alpha"); code != 0 {
		t.Errorf("Alpha alone is fine: exit %d", code)
	}
	// A certificate from another CA.
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o700)
	if err := hosttest.WritePKI(other, hosts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(other, "ca.pem"))
	os.WriteFile(filepath.Join(dir, "creds", "Alpha", "route-ca.pem"), b, 0o600)
	code, _, errOut = runBin(t, pw, "check", "--config", good, "--name", "Alpha")
	if code != 1 || !strings.Contains(errOut, "tls.routes.cert_file") || !strings.Contains(errOut, "not valid for routes under the CA") {
		t.Errorf("certificate of another CA: exit %d\n%s", code, errOut)
	}
	os.Remove(filepath.Join(dir, "creds", "Alpha", "route-key.pem"))
	code, _, errOut = runBin(t, pw, "check", "--config", good, "--name", "Alpha")
	if code != 1 || !strings.Contains(errOut, "tls.routes.key_file") || !strings.Contains(errOut, "creds/Alpha/route-key.pem") {
		t.Errorf("missing key: exit %d\n%s", code, errOut)
	}
}
