package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
)

// The systemd unit passes systemd-analyze verify (with ExecStart pointed
// at a freshly built herd, since verify checks the binary exists) and
// keeps the sandboxing the deploy guide promises.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("systemd/herd-node@.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure",
		"EnvironmentFile=-/etc/herd/herd.env", "ExecStart=/usr/local/bin/herd node --config /etc/herd/herd.yaml --name %i",
		"LoadCredential=route-key.pem:", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecReload=/usr/local/bin/herd check --config /etc/herd/herd.yaml --name %i --file-only",
		"ExecStartPre=/usr/local/bin/herd check --config /etc/herd/herd.yaml --name %i",
		"StateDirectory=herd",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("HERD_REQUIRE_SYSTEMD") == "1" {
			t.Fatal("systemd-analyze missing and HERD_REQUIRE_SYSTEMD=1")
		}
		t.Skip("systemd-analyze missing: install systemd to verify the unit (CI does)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "herd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/herd").CombinedOutput(); err != nil {
		t.Fatalf("build herd: %v\n%s", err, out)
	}
	inst := filepath.Join(dir, "herd-node@Goloman.service")
	if err := os.WriteFile(inst, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/herd", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", inst).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The five-host herd file is valid, with route auth and TLS on.
func TestHostsHerdFile(t *testing.T) {
	hf, err := herdfile.Load("hosts/herd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(hf.Nodes) != 5 || len(hf.Edges()) != 6 {
		t.Fatalf("%d nodes, %d edges", len(hf.Nodes), len(hf.Edges()))
	}
	if hf.Storage.Dir != "/var/lib/herd" {
		t.Errorf("storage.dir %q, want the unit's StateDirectory /var/lib/herd", hf.Storage.Dir)
	}
	if !hf.TLS.Routes.Enabled() || hf.Auth.Routes.User == "" {
		t.Fatalf("route TLS %v, route user %q", hf.TLS.Routes.Enabled(), hf.Auth.Routes.User)
	}
	for _, n := range hf.Nodes {
		if !strings.HasSuffix(strings.Split(n.Cluster, ":")[0], ".herd") {
			t.Errorf("%s: cluster address %s is not a host name", n.Name, n.Cluster)
		}
	}
}
