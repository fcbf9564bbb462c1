package herdfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AuthConfig is who may talk to the embedded NATS servers besides the
// nodes themselves and anonymous observers. Passwords never live in the
// herd file or on the command line: each comes from an environment
// variable or a file.
type AuthConfig struct {
	// System is a user of the NATS system account, for `nats server list`
	// and `nats server report routes`. It is enabled when its password
	// source yields a password (and User is set); otherwise nobody can use
	// the system account.
	System Credential `yaml:"system"`
	// Routes are the credentials every route between nodes must present.
	// Setting Routes.User turns route authentication on; the password is
	// then required, so a herd asking for it never runs without it.
	Routes RouteAuth `yaml:"routes"`
}

// RouteAuth is the route credential, and whether a node whose cluster
// address is not loopback may run without it.
type RouteAuth struct {
	Credential `yaml:",inline"`
	// Insecure lets a node whose cluster address is not loopback start
	// without route authentication and without verified route TLS. Any
	// server that reaches such a port can join the herd and publish
	// forged records, so a node refuses to start that way unless this
	// says so explicitly.
	Insecure bool `yaml:"insecure"`
}

// Credential is a user name and where its password comes from.
type Credential struct {
	User string `yaml:"user"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile holds the password, used when PasswordEnv is empty or
	// names an unset variable. Load resolves a relative path against the
	// herd file's directory.
	PasswordFile string `yaml:"password_file"`
}

// TLSConfig is the herd's TLS settings.
type TLSConfig struct {
	Routes RouteTLS `yaml:"routes"`
}

// RouteTLS turns TLS on for the routes between nodes when its files are
// set (all three, or none). In every path, "{node}" stands for the node's
// name (NodePlaceholder), so one herd file serves per-node certificates and
// per-node credential directories. Load resolves relative paths against
// the herd file's directory.
type RouteTLS struct {
	// CAFile holds the CA certificate(s) that signed every node's
	// certificate; a node trusts no other.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the node's certificate and private key,
	// PEM. The certificate must name the host of the node's cluster
	// address (a DNS or IP SAN): peers dial that name, and the peers it
	// dials refuse a certificate that does not name the node it says it is.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Verify also requires and verifies a certificate from every node that
	// dials this one (mutual TLS). Without it anyone can open a route.
	Verify bool `yaml:"verify"`
}

// NodePlaceholder in a path of the herd file (TLS files, password and key
// files) is replaced by the name of the node that reads it: see ForNode.
const NodePlaceholder = "{node}"

// Enabled reports whether route TLS is configured.
func (t RouteTLS) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Files returns the certificate, key and CA paths of node, with
// NodePlaceholder replaced in each.
func (t RouteTLS) Files(node string) (cert, key, ca string) {
	return forNode(t.CertFile, node), forNode(t.KeyFile, node), forNode(t.CAFile, node)
}

func (a AuthConfig) validate(p *problems) {
	for _, c := range []struct {
		field string
		cred  Credential
	}{{"auth.system", a.System}, {"auth.routes", a.Routes.Credential}} {
		if c.cred.User != "" && !printable(c.cred.User) {
			p.add(c.field+".user", ErrBadUser, "want visible ASCII without spaces")
		}
		if c.cred.PasswordEnv != "" && !isEnvName(c.cred.PasswordEnv) {
			p.add(c.field+".password_env", ErrBadSecretSource, "not an environment variable name (value not shown)")
		}
		if strings.ContainsRune(c.cred.PasswordFile, 0) {
			p.add(c.field+".password_file", ErrBadSecretSource, "path contains NUL")
		}
	}
	if a.Routes.User != "" && a.Routes.PasswordEnv == "" && a.Routes.PasswordFile == "" {
		p.add("auth.routes.password_env", ErrMissingSecret, "auth.routes.user is set: route authentication needs password_env or password_file")
	}
}

func (t TLSConfig) validate(p *problems) {
	r := t.Routes
	if !r.Enabled() {
		return
	}
	for _, f := range []struct{ field, path string }{
		{"tls.routes.ca_file", r.CAFile}, {"tls.routes.cert_file", r.CertFile}, {"tls.routes.key_file", r.KeyFile},
	} {
		switch {
		case f.path == "":
			p.add(f.field, ErrMissingTLSFile, "route TLS needs ca_file, cert_file and key_file")
		case strings.ContainsRune(f.path, 0):
			p.add(f.field, ErrMissingTLSFile, "path contains NUL")
		}
	}
}

// resolvePaths makes the security file paths relative to dir absolute.
func (c *Config) resolveSecurityPaths(dir string) {
	for _, p := range []*string{
		&c.Auth.System.PasswordFile, &c.Auth.Routes.PasswordFile,
		&c.TLS.Routes.CAFile, &c.TLS.Routes.CertFile, &c.TLS.Routes.KeyFile,
	} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Password returns the credential's password: the value of PasswordEnv
// (looked up with getenv) if set and non-empty, else the trimmed contents
// of PasswordFile. ok is false when neither is configured or the variable
// is unset with no file. field names the credential in errors ("auth.
// routes"); errors wrap ErrBadSecretSource, ErrMissingSecret or the I/O
// error and never contain the password.
func (c Credential) Password(field string, getenv func(string) string) (pw string, ok bool, err error) {
	if c.PasswordEnv != "" && getenv != nil {
		if v := strings.TrimSpace(getenv(c.PasswordEnv)); v != "" {
			if !printable(v) {
				return "", false, &FieldError{Field: field + ".password_env", Err: ErrBadSecretSource,
					Detail: fmt.Sprintf("environment variable %s holds whitespace or control characters", c.PasswordEnv)}
			}
			return v, true, nil
		}
	}
	if c.PasswordFile == "" {
		return "", false, nil
	}
	f, err := os.Open(c.PasswordFile)
	if err != nil {
		return "", false, &FieldError{Field: field + ".password_file", Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err != nil {
		return "", false, &FieldError{Field: field + ".password_file", Err: err}
	}
	if len(data) > maxKeyBytes {
		return "", false, &FieldError{Field: field + ".password_file", Err: ErrBadSecretSource,
			Detail: fmt.Sprintf("%s is larger than %d bytes", c.PasswordFile, maxKeyBytes)}
	}
	v := strings.TrimSpace(string(data))
	switch {
	case v == "":
		return "", false, &FieldError{Field: field + ".password_file", Err: ErrMissingSecret, Detail: c.PasswordFile + " is empty"}
	case !printable(v):
		return "", false, &FieldError{Field: field + ".password_file", Err: ErrBadSecretSource,
			Detail: c.PasswordFile + " holds whitespace or control characters inside the password"}
	}
	return v, true, nil
}

// RoutePassword returns the route password when route authentication is
// on (auth.routes.user set), failing with ErrMissingSecret if no source
// yields it; "" and no error when it is off.
func (c Config) RoutePassword(getenv func(string) string) (string, error) {
	if c.Auth.Routes.User == "" {
		return "", nil
	}
	pw, ok, err := c.Auth.Routes.Password("auth.routes", getenv)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &FieldError{Field: "auth.routes.password_env", Err: ErrMissingSecret,
			Detail: c.Auth.Routes.missing()}
	}
	return pw, nil
}

// SystemPassword returns the system user's password, or "" when the
// system user is off (no user, or no source yields a password).
func (c Config) SystemPassword(getenv func(string) string) (string, error) {
	if c.Auth.System.User == "" {
		return "", nil
	}
	pw, _, err := c.Auth.System.Password("auth.system", getenv)
	return pw, err
}

func (c Credential) missing() string {
	if c.PasswordFile == "" {
		return fmt.Sprintf("environment variable %s is unset or empty and no password_file is set", c.PasswordEnv)
	}
	return "no password found"
}
