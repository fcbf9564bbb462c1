package herdfile

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/herdhq/herd/node/places/resilient"
	"github.com/herdhq/herd/node/server"
)

// Errors wrapped by Validate (and PlacesKey); test with errors.Is. Every
// returned error is a *FieldError naming the offending field.
var (
	ErrNoNodes           = errors.New("no nodes")
	ErrDuplicateName     = errors.New("duplicate node name")
	ErrBadName           = errors.New("not a NATS token (letters, digits, _ and - only, 1 to 64 bytes)")
	ErrUnknownNeighbor   = errors.New("unknown neighbor")
	ErrSelfNeighbor      = errors.New("node lists itself as neighbor")
	ErrAsymmetricEdge    = errors.New("asymmetric neighbor edge")
	ErrDuplicateNeighbor = errors.New("neighbor listed twice")
	ErrDuplicateAddress  = errors.New("address used twice")
	ErrBadAddress        = errors.New("bad address (want host:port, numeric port 0-65535)")
	ErrMissingKey        = errors.New("missing places API key")
	ErrBadKeySource      = errors.New("bad places key source")
	ErrBadProvider       = errors.New("unknown places provider (want offline, google or google-legacy)")
	ErrBadBaseURL        = errors.New("bad base URL (want absolute http or https URL)")
	ErrBadLimit          = errors.New("limit out of range")
	ErrBadLogLevel       = errors.New("unknown log level (want debug, info, warn or error)")
	ErrBadLogFormat      = errors.New("unknown log format (want text or json)")
	ErrBadLogFile        = errors.New("bad log file path")
	ErrWebsocketNoTLS    = errors.New("websocket without TLS must listen on loopback")
	ErrBadUser           = errors.New("bad user name")
	ErrBadSecretSource   = errors.New("bad secret source")
	ErrMissingSecret     = errors.New("missing secret")
	ErrMissingTLSFile    = errors.New("missing or bad TLS file")
	ErrBadRegion         = errors.New("bad region name (a NATS token: letters, digits, _ and - only, 1 to 64 bytes)")
	ErrDuplicateRegion   = errors.New("region named twice")
	ErrMissingGateway    = errors.New("missing gateway address")
	ErrBadStorageDir     = errors.New("bad storage dir")
)

// Bounds on limits are the components' own (node/server,
// node/places/resilient): counts that size buffers or semaphores are
// capped so that no herd file can make a node allocate without bound.
const maxNameBytes = 64

// FieldError is one problem with one field of a herd file. Field is the
// YAML path, e.g. "nodes[2].neighbors[1]" or "places.key_env".
type FieldError struct {
	Field  string
	Err    error  // the ErrXxx value (or an I/O error from PlacesKey)
	Detail string // optional context; never a secret
}

func (e *FieldError) Error() string {
	if e.Detail == "" {
		return e.Field + ": " + e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error() + ": " + e.Detail
}

func (e *FieldError) Unwrap() error { return e.Err }

// problems collects FieldErrors in the order found.
type problems []error

func (p *problems) add(field string, err error, detail string, args ...any) {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	*p = append(*p, &FieldError{Field: field, Err: err, Detail: detail})
}

// Validate reports every problem in c at once (joined with errors.Join),
// each naming its field, or nil if c can run.
func (c Config) Validate() error {
	var p problems
	if !isToken(c.Herd) {
		p.add("herd", ErrBadName, "%q", c.Herd)
	}
	c.Places.validate(&p)
	c.Limits.validate(&p)
	c.Log.validate(&p)
	c.AntiEntropy.validate(&p)
	c.Storage.validate(&p)
	c.Auth.validate(&p)
	c.TLS.validate(&p)
	c.validateNodes(&p)
	c.validateRegions(&p)
	return errors.Join(p...)
}

func (pc PlacesConfig) validate(p *problems) {
	switch pc.Provider {
	case ProviderOffline:
	case ProviderGoogle, ProviderGoogleLegacy:
		if pc.KeyEnv == "" && pc.KeyFile == "" {
			p.add("places.key_env", ErrMissingKey, "provider %s needs key_env or key_file", pc.Provider)
		}
	default:
		p.add("places.provider", ErrBadProvider, "%q", pc.Provider)
	}
	if pc.BaseURL != "" {
		u, err := url.Parse(pc.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("places.base_url", ErrBadBaseURL, "%q", pc.BaseURL)
		}
	}
	if pc.KeyEnv != "" && !isEnvName(pc.KeyEnv) {
		// The value is not echoed: a key pasted here by mistake must not
		// end up in logs.
		p.add("places.key_env", ErrBadKeySource, "not an environment variable name (value not shown)")
	}
	if strings.ContainsRune(pc.KeyFile, 0) {
		p.add("places.key_file", ErrBadKeySource, "path contains NUL")
	}
	if pc.Timeout <= 0 {
		p.add("places.timeout", ErrBadLimit, "%v, want > 0", pc.Timeout)
	}
	if pc.MaxConcurrent <= 0 || pc.MaxConcurrent > resilient.MaxConcurrentCap {
		p.add("places.max_concurrent", ErrBadLimit, "%d, want 1..%d", pc.MaxConcurrent, resilient.MaxConcurrentCap)
	}
	if pc.CacheTTL < 0 {
		p.add("places.cache_ttl", ErrBadLimit, "%v, want >= 0 (0 disables the cache)", pc.CacheTTL)
	}
	if pc.CacheSize < 0 {
		p.add("places.cache_size", ErrBadLimit, "%d, want >= 0 (0 disables the cache)", pc.CacheSize)
	}
}

func (l Limits) validate(p *problems) {
	if l.MaxLineBytes < server.MinLineBytes || l.MaxLineBytes > server.MaxLineBytesCap {
		p.add("limits.max_line_bytes", ErrBadLimit, "%d, want %d..%d", l.MaxLineBytes, server.MinLineBytes, server.MaxLineBytesCap)
	}
	if l.IdleTimeout <= 0 {
		p.add("limits.idle_timeout", ErrBadLimit, "%v, want > 0", l.IdleTimeout)
	}
	if l.WriteTimeout <= 0 {
		p.add("limits.write_timeout", ErrBadLimit, "%v, want > 0", l.WriteTimeout)
	}
	if l.MaxConnections <= 0 {
		p.add("limits.max_connections", ErrBadLimit, "%d, want > 0", l.MaxConnections)
	}
	if l.MaxOutstanding <= 0 || l.MaxOutstanding > server.MaxOutstandingCap {
		p.add("limits.max_outstanding", ErrBadLimit, "%d, want 1..%d", l.MaxOutstanding, server.MaxOutstandingCap)
	}
	l.Observers.validate(p)
}

func (lc LogConfig) validate(p *problems) {
	switch lc.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", ErrBadLogLevel, "%q", lc.Level)
	}
	switch lc.Format {
	case "text", "json":
	default:
		p.add("log.format", ErrBadLogFormat, "%q", lc.Format)
	}
	if strings.ContainsRune(lc.FileDir, 0) {
		p.add("log.file_dir", ErrBadLogFile, "path contains NUL")
	}
}

func (c Config) validateNodes(p *problems) {
	if len(c.Nodes) == 0 {
		p.add("nodes", ErrNoNodes, "")
		return
	}
	index := make(map[string]int, len(c.Nodes)) // name -> first node index
	for i, n := range c.Nodes {
		field := fmt.Sprintf("nodes[%d].name", i)
		switch first, dup := index[n.Name]; {
		case !isToken(n.Name):
			p.add(field, ErrBadName, "%q", n.Name)
		case dup:
			p.add(field, ErrDuplicateName, "%q, first at nodes[%d]", n.Name, first)
		default:
			index[n.Name] = i
		}
	}

	addrs := make(map[string]string) // canonical address -> field using it
	for i, n := range c.Nodes {
		for _, a := range []struct{ key, addr string }{
			{"client", n.Client}, {"nats", n.NATS}, {"cluster", n.Cluster}, {"monitor", n.Monitor},
			{"websocket", n.Websocket}, {"gateway", n.Gateway},
		} {
			if (a.key == "monitor" || a.key == "websocket" || a.key == "gateway") && a.addr == "" {
				continue // optional (gateway: validateRegions says when it is not)
			}
			field := fmt.Sprintf("nodes[%d].%s", i, a.key)
			canon, port, ok := canonicalAddr(a.addr)
			if !ok {
				p.add(field, ErrBadAddress, "%q", a.addr)
				continue
			}
			if a.key == "websocket" && !isLoopbackHost(canon) {
				// TLS for browsers is not configurable yet.
				p.add(field, ErrWebsocketNoTLS, "%q", a.addr)
			}
			if port == 0 {
				continue // the OS picks a distinct port for each listener
			}
			if other, dup := addrs[canon]; dup {
				p.add(field, ErrDuplicateAddress, "%s, also %s", a.addr, other)
				continue
			}
			addrs[canon] = field
		}
	}

	for i, n := range c.Nodes {
		if strings.ContainsRune(n.LogFile, 0) {
			p.add(fmt.Sprintf("nodes[%d].log_file", i), ErrBadLogFile, "path contains NUL")
		}
	}

	for i, n := range c.Nodes {
		seen := make(map[string]int, len(n.Neighbors))
		for j, m := range n.Neighbors {
			field := fmt.Sprintf("nodes[%d].neighbors[%d]", i, j)
			if first, dup := seen[m]; dup {
				p.add(field, ErrDuplicateNeighbor, "%q, first at neighbors[%d]", m, first)
				continue
			}
			seen[m] = j
			if m == n.Name {
				p.add(field, ErrSelfNeighbor, "%q", m)
				continue
			}
			k, known := index[m]
			if !known {
				p.add(field, ErrUnknownNeighbor, "%q", m)
				continue
			}
			// Report only where n's own index is the one names resolve to,
			// so a duplicate node does not produce spurious edges.
			if self, ok := index[n.Name]; ok && self == i && !slices.Contains(c.Nodes[k].Neighbors, n.Name) {
				p.add(field, ErrAsymmetricEdge, "%s lists %s but %s (nodes[%d]) does not list %s", n.Name, m, m, k, n.Name)
			}
		}
	}
}

// isToken reports whether s is a NATS subject token the herd accepts:
// 1..64 bytes of ASCII letters, digits, '_' and '-'.
func isToken(s string) bool {
	if s == "" || len(s) > maxNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', b == '_':
		case '0' <= b && b <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// canonicalAddr checks host:port (non-empty host, numeric port 0..65535)
// and returns a canonical form for duplicate detection: IP literals in
// netip form, host names lower-cased, the port without leading zeros.
func canonicalAddr(addr string) (canon string, port uint16, ok bool) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil || host == "" || ps == "" {
		return "", 0, false
	}
	for i := 0; i < len(ps); i++ {
		if ps[i] < '0' || ps[i] > '9' {
			return "", 0, false // no service names, no signs
		}
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else if strings.ContainsAny(host, " \t\r\n/\x00%") {
		return "", 0, false
	} else {
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), uint16(p), true
}

// isLoopbackHost reports whether the host of a canonical host:port is
// localhost or a loopback IP.
func isLoopbackHost(canon string) bool {
	h, _, _ := net.SplitHostPort(canon)
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}
