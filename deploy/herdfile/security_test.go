package herdfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
)

func TestConfig_Validate_security(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *herdfile.Config)
		want   error
		field  string
	}{
		{"defaults", func(*herdfile.Config) {}, nil, ""},
		{"route auth from env", func(c *herdfile.Config) { c.Auth.Routes.User = "herd" }, nil, ""},
		{"route auth from file", func(c *herdfile.Config) {
			c.Auth.Routes.Credential = herdfile.Credential{User: "herd", PasswordFile: "/run/secrets/route"}
		}, nil, ""},
		{"route TLS", func(c *herdfile.Config) {
			c.TLS.Routes = herdfile.RouteTLS{CAFile: "ca.pem", CertFile: "{node}.pem", KeyFile: "{node}-key.pem"}
		}, nil, ""},
		{"route user without source", func(c *herdfile.Config) {
			c.Auth.Routes.Credential = herdfile.Credential{User: "herd"}
		}, herdfile.ErrMissingSecret, "auth.routes.password_env"},
		{"route user with space", func(c *herdfile.Config) { c.Auth.Routes.User = "my herd" }, herdfile.ErrBadUser, "auth.routes.user"},
		{"system user control char", func(c *herdfile.Config) { c.Auth.System.User = "sys\n" }, herdfile.ErrBadUser, "auth.system.user"},
		{"password env not a name", func(c *herdfile.Config) {
			c.Auth.Routes.PasswordEnv = "hunter2 is my password"
		}, herdfile.ErrBadSecretSource, "auth.routes.password_env"},
		{"system password env not a name", func(c *herdfile.Config) {
			c.Auth.System.PasswordEnv = "9LIVES"
		}, herdfile.ErrBadSecretSource, "auth.system.password_env"},
		{"password file NUL", func(c *herdfile.Config) {
			c.Auth.System.PasswordFile = "a\x00b"
		}, herdfile.ErrBadSecretSource, "auth.system.password_file"},
		{"TLS without CA", func(c *herdfile.Config) {
			c.TLS.Routes = herdfile.RouteTLS{CertFile: "a.pem", KeyFile: "a-key.pem"}
		}, herdfile.ErrMissingTLSFile, "tls.routes.ca_file"},
		{"TLS without key", func(c *herdfile.Config) {
			c.TLS.Routes = herdfile.RouteTLS{CAFile: "ca.pem", CertFile: "a.pem"}
		}, herdfile.ErrMissingTLSFile, "tls.routes.key_file"},
		{"TLS only CA", func(c *herdfile.Config) {
			c.TLS.Routes = herdfile.RouteTLS{CAFile: "ca.pem"}
		}, herdfile.ErrMissingTLSFile, "tls.routes.cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("Validate() = %v, want %v naming %s", err, tt.want, tt.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes the value: %v", err)
			}
		})
	}
}

func TestConfig_RoutePassword(t *testing.T) {
	const pw = "route-Secret-17"
	good := writeKey(t, pw+"\n")
	empty := writeKey(t, " \n")
	inner := writeKey(t, "route secret")
	tests := []struct {
		name    string
		cred    herdfile.Credential
		env     map[string]string
		want    string
		wantErr error
		field   string
	}{
		{"off without user", herdfile.Credential{PasswordEnv: "P"}, map[string]string{"P": pw}, "", nil, ""},
		{"from env", herdfile.Credential{User: "h", PasswordEnv: "P"}, map[string]string{"P": " " + pw + "\n"}, pw, nil, ""},
		{"env over file", herdfile.Credential{User: "h", PasswordEnv: "P", PasswordFile: empty}, map[string]string{"P": pw}, pw, nil, ""},
		{"file when env unset", herdfile.Credential{User: "h", PasswordEnv: "P", PasswordFile: good}, nil, pw, nil, ""},
		{"env unset no file", herdfile.Credential{User: "h", PasswordEnv: "P"}, nil, "", herdfile.ErrMissingSecret, "auth.routes.password_env"},
		{"env with space", herdfile.Credential{User: "h", PasswordEnv: "P"}, map[string]string{"P": "a b"}, "", herdfile.ErrBadSecretSource, "auth.routes.password_env"},
		{"empty file", herdfile.Credential{User: "h", PasswordFile: empty}, nil, "", herdfile.ErrMissingSecret, "auth.routes.password_file"},
		{"space in file", herdfile.Credential{User: "h", PasswordFile: inner}, nil, "", herdfile.ErrBadSecretSource, "auth.routes.password_file"},
		{"missing file", herdfile.Credential{User: "h", PasswordFile: filepath.Join(t.TempDir(), "nope")}, nil, "", os.ErrNotExist, "auth.routes.password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Auth.Routes.Credential = tt.cred
			got, err := c.RoutePassword(env(tt.env))
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("RoutePassword() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("RoutePassword() error %v, want %v naming %s", err, tt.wantErr, tt.field)
			}
			if strings.Contains(err.Error(), "route secret") || strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestConfig_SystemPassword(t *testing.T) {
	c := validConfig()
	if pw, err := c.SystemPassword(env(nil)); pw != "" || err != nil {
		t.Errorf("unset: %q, %v; want off without error", pw, err)
	}
	if pw, err := c.SystemPassword(env(map[string]string{"HERD_SYSTEM_PASSWORD": "s3"})); pw != "s3" || err != nil {
		t.Errorf("from default env: %q, %v", pw, err)
	}
	c.Auth.System.User = ""
	if pw, err := c.SystemPassword(env(map[string]string{"HERD_SYSTEM_PASSWORD": "s3"})); pw != "" || err != nil {
		t.Errorf("no user: %q, %v; want off", pw, err)
	}
}

func TestRouteTLS_Files(t *testing.T) {
	r := herdfile.RouteTLS{CAFile: "/c/ca.pem", CertFile: "/c/{node}.pem", KeyFile: "/c/{node}.key"}
	cert, key, ca := r.Files("Hands")
	if cert != "/c/Hands.pem" || key != "/c/Hands.key" || ca != "/c/ca.pem" {
		t.Errorf("Files = %s %s %s", cert, key, ca)
	}
	// The CA path takes the placeholder too (a per-node credentials dir).
	r.CAFile = "/run/credentials/herd-node@{node}.service/route-ca.pem"
	if _, _, ca := r.Files("Hands"); ca != "/run/credentials/herd-node@Hands.service/route-ca.pem" {
		t.Errorf("CA path %s, want the placeholder replaced", ca)
	}
	if (herdfile.RouteTLS{Verify: true}).Enabled() || !r.Enabled() {
		t.Error("Enabled wrong")
	}
}

func TestLoad_securityPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herd.yaml")
	data := `auth:
  system: {password_file: secrets/sys}
  routes: {user: herd, password_env: "", password_file: /abs/route}
tls:
  routes: {ca_file: pki/ca.pem, cert_file: "pki/{node}.pem", key_file: "pki/{node}-key.pem", verify: false}
nodes: [{name: Solo, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0"}]
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := herdfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		c.Auth.System.PasswordFile: filepath.Join(dir, "secrets/sys"),
		c.Auth.Routes.PasswordFile: "/abs/route",
		c.TLS.Routes.CAFile:        filepath.Join(dir, "pki/ca.pem"),
		c.TLS.Routes.CertFile:      filepath.Join(dir, "pki/{node}.pem"),
		c.TLS.Routes.KeyFile:       filepath.Join(dir, "pki/{node}-key.pem"),
	} {
		if got != want {
			t.Errorf("path %q, want %q", got, want)
		}
	}
	if c.TLS.Routes.Verify || c.Auth.System.User != "sys" {
		t.Errorf("verify %v (want false as written), system user %q (want default sys)", c.TLS.Routes.Verify, c.Auth.System.User)
	}
}
