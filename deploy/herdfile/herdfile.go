// Package herdfile reads, defaults and validates a herd file: the YAML
// document that describes every node of a herd (its name, addresses and
// flood neighbors) and the herd-wide settings (Places provider and key
// source, client-port limits, logging).
//
// Parse decodes strictly (an unknown field is an error naming it and its
// line), fills every field the file leaves out from DefaultConfig, and
// validates the result, so a Config returned without error is safe to run.
package herdfile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herdhq/herd/node/places/resilient"
	"github.com/herdhq/herd/node/server"
)

// Config is a whole herd file.
type Config struct {
	// Herd is the herd's name: the NATS cluster name of every node whose
	// region is not set (regions.go). It must be a NATS token.
	Herd   string       `yaml:"herd"`
	Places PlacesConfig `yaml:"places"`
	Limits Limits       `yaml:"limits"`
	Log    LogConfig    `yaml:"log"`
	// AntiEntropy tunes the periodic reconciliation between neighbors.
	AntiEntropy AntiEntropy `yaml:"antientropy"`
	// Storage keeps each node's records on disk (storage.go).
	Storage Storage `yaml:"storage"`
	// Auth and TLS secure the embedded NATS servers (security.go).
	Auth AuthConfig `yaml:"auth"`
	TLS  TLSConfig  `yaml:"tls"`
	// Chaos runs every node with the chaos gate on its routes and the
	// chaos service, which `herd chaos` drives as the system user (so
	// auth.system needs a password). `herd node --chaos` and `herd up
	// --chaos` set it for one run.
	Chaos bool `yaml:"chaos"`
	// Nodes in file order. The order is kept: it is the order `herd up`
	// starts them and the order tools list them.
	Nodes []Node `yaml:"nodes"`
}

// Node is one member of the herd. Addresses are host:port with a numeric
// port; port 0 asks the OS for a free port (tests use it).
type Node struct {
	// Name is the node's identity in AT lines and bus subjects
	// (herd.at.<name>), hence a NATS token.
	Name string `yaml:"name"`
	// Client is where location clients connect (IAMAT / WHATSAT).
	Client string `yaml:"client"`
	// NATS is the embedded NATS server's client port, for observers and tools.
	NATS string `yaml:"nats"`
	// Cluster is the embedded NATS server's route port; the other nodes
	// of its region dial it.
	Cluster string `yaml:"cluster"`
	// Region is the node's region (regions.go): the nodes of one region
	// form one NATS cluster named after it. Empty: the herd's name, so a
	// herd of one region needs no region fields.
	Region string `yaml:"region"`
	// Gateway is the embedded NATS server's gateway port, through which the
	// other regions' nodes reach this region. Required on every node of a
	// herd of several regions; optional otherwise.
	Gateway string `yaml:"gateway"`
	// Monitor is the HTTP metrics/health address; empty means none.
	Monitor string `yaml:"monitor"`
	// Websocket, if set, is the address of a NATS WebSocket listener for
	// browsers. Without TLS it must be on loopback.
	Websocket string `yaml:"websocket"`
	// LogFile, if set, is this node's log file (it overrides
	// log.file_dir). Load resolves a relative path against the herd
	// file's directory.
	LogFile string `yaml:"log_file"`
	// Neighbors are the names of the nodes this node floods to, in file
	// order. The graph is undirected: both ends list each other.
	Neighbors []string `yaml:"neighbors"`
}

// PlacesConfig selects and tunes the Places provider answering WHATSAT.
type PlacesConfig struct {
	// Provider is ProviderOffline, ProviderGoogle or ProviderGoogleLegacy.
	Provider string `yaml:"provider"`
	// BaseURL overrides the upstream's base URL (tests point it at a local
	// fake). Empty means the provider's real endpoint.
	BaseURL string `yaml:"base_url"`
	// KeyEnv names the environment variable holding the API key. Secrets
	// never live in the herd file or on the command line.
	KeyEnv string `yaml:"key_env"`
	// KeyFile is a file holding the API key, used when KeyEnv is empty or
	// names an unset variable. Load resolves a relative path against the
	// herd file's directory.
	KeyFile string `yaml:"key_file"`
	// Timeout bounds one upstream request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent bounds upstream requests in flight per node.
	MaxConcurrent int `yaml:"max_concurrent"`
	// CacheTTL is how long an answer is reused; 0 disables the cache.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize bounds cached answers; 0 disables the cache.
	CacheSize int `yaml:"cache_size"`
}

// Places providers.
const (
	ProviderOffline      = "offline"
	ProviderGoogle       = "google"
	ProviderGoogleLegacy = "google-legacy"
)

// Limits bound what one client connection, and all of them together, may
// cost a node.
type Limits struct {
	// MaxLineBytes is the longest valid client line, without its LF.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// IdleTimeout closes a connection that sends nothing for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteTimeout closes a connection whose reader stalls a reply this long.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxConnections bounds concurrent client connections per node.
	MaxConnections int `yaml:"max_connections"`
	// MaxOutstanding bounds, per connection, replies not yet processed or
	// flushed; reading pauses beyond it (back-pressure on pipelining).
	MaxOutstanding int `yaml:"max_outstanding"`
	// Observers bound the NATS client port's connections (limits.go).
	Observers ObserverLimits `yaml:"observers"`
}

// LogConfig sets the node's slog handler.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
	// FileDir, if set, gives every node a log file <file_dir>/<name>.log
	// recording at debug level every client input and output and every
	// connection opened and closed, whatever Level says for the console.
	// Load resolves a relative path against the herd file's directory.
	FileDir string `yaml:"file_dir"`
}

// LogFile is the log file of node name: its own log_file, else one in
// log.file_dir, else none ("").
func (c Config) LogFile(name string) string {
	n, ok := c.Node(name)
	switch {
	case !ok:
		return ""
	case n.LogFile != "":
		return n.LogFile
	case c.Log.FileDir != "":
		return filepath.Join(c.Log.FileDir, n.Name+".log")
	}
	return ""
}

// DefaultConfig returns the herd-wide defaults and no nodes. Parse starts
// from it, so a herd file need only list its nodes. Each default is the
// owning component's (the client port's limits, the Places resilience
// layer's, anti-entropy's), so it is declared once, there.
func DefaultConfig() Config {
	rc, sc := resilient.DefaultConfig(), server.DefaultConfig()
	return Config{
		Herd: "herd",
		Places: PlacesConfig{
			Provider:      ProviderOffline,
			KeyEnv:        "HERD_PLACES_KEY",
			Timeout:       rc.Timeout,
			MaxConcurrent: rc.MaxConcurrent,
			CacheTTL:      rc.CacheTTL,
			CacheSize:     rc.CacheSize,
		},
		Limits: Limits{
			MaxLineBytes:   sc.MaxLineBytes,
			IdleTimeout:    sc.IdleTimeout,
			WriteTimeout:   sc.WriteTimeout,
			MaxConnections: sc.MaxConns,
			MaxOutstanding: sc.MaxOutstanding,
			Observers:      DefaultObserverLimits(),
		},
		Log:         LogConfig{Level: "info", Format: "text"},
		AntiEntropy: DefaultAntiEntropy(),
		Storage:     DefaultStorage(),
		Auth: AuthConfig{
			System: Credential{User: "sys", PasswordEnv: "HERD_SYSTEM_PASSWORD"},
			Routes: RouteAuth{Credential: Credential{PasswordEnv: "HERD_ROUTE_PASSWORD"}},
		},
		TLS: TLSConfig{Routes: RouteTLS{Verify: true}},
	}
}

// Parse decodes a herd file over DefaultConfig and validates it. Unknown
// fields, duplicate keys and more than one YAML document are errors.
func Parse(data []byte) (Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		// io.EOF means an empty document: all defaults, and Validate
		// reports the missing nodes.
		return Config{}, fmt.Errorf("parse herd file: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("parse herd file: more than one YAML document")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads and parses the herd file at path. A relative places.key_file
// (and auth password_file, tls file) is resolved against the file's directory, so a deploy directory can be
// moved as a whole.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load herd file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("load herd file %s: %w", path, err)
	}
	if c.Places.KeyFile != "" && !filepath.IsAbs(c.Places.KeyFile) {
		c.Places.KeyFile = filepath.Join(filepath.Dir(path), c.Places.KeyFile)
	}
	if c.Log.FileDir != "" && !filepath.IsAbs(c.Log.FileDir) {
		c.Log.FileDir = filepath.Join(filepath.Dir(path), c.Log.FileDir)
	}
	if c.Storage.Dir != "" && !filepath.IsAbs(c.Storage.Dir) {
		c.Storage.Dir = filepath.Join(filepath.Dir(path), c.Storage.Dir)
	}
	for i, n := range c.Nodes {
		if n.LogFile != "" && !filepath.IsAbs(n.LogFile) {
			c.Nodes[i].LogFile = filepath.Join(filepath.Dir(path), n.LogFile)
		}
	}
	c.resolveSecurityPaths(filepath.Dir(path))
	return c, nil
}

// Node returns the node called name.
func (c Config) Node(name string) (Node, bool) {
	i := slices.IndexFunc(c.Nodes, func(n Node) bool { return n.Name == name })
	if i < 0 {
		return Node{}, false
	}
	return c.Nodes[i], true
}

// Names returns the node names in file order.
func (c Config) Names() []string {
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = n.Name
	}
	return names
}

// Neighbors returns a copy of the neighbors of node name in file order, or
// nil if there is no such node.
func (c Config) Neighbors(name string) []string {
	n, ok := c.Node(name)
	if !ok {
		return nil
	}
	return slices.Clone(n.Neighbors)
}

// Edges returns each undirected neighbor edge once, as {lesser, greater}
// name, sorted. On a validated Config every edge is listed by both ends.
func (c Config) Edges() [][2]string {
	seen := make(map[[2]string]bool)
	var edges [][2]string
	for _, n := range c.Nodes {
		for _, m := range n.Neighbors {
			e := [2]string{n.Name, m}
			if e[1] < e[0] {
				e[0], e[1] = e[1], e[0]
			}
			if !seen[e] {
				seen[e] = true
				edges = append(edges, e)
			}
		}
	}
	slices.SortFunc(edges, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	return edges
}
