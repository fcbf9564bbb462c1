package herdfile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/storage"
)

// validConfig is a small valid herd: a path A - B - C, fixed ports on A and
// B, port 0 on C.
func validConfig() herdfile.Config {
	c := herdfile.DefaultConfig()
	c.Nodes = []herdfile.Node{
		{Name: "A", Client: "127.0.0.1:20001", NATS: "127.0.0.1:20002", Cluster: "127.0.0.1:20003", Monitor: "127.0.0.1:20004", Neighbors: []string{"B"}},
		{Name: "B", Client: "127.0.0.1:20011", NATS: "127.0.0.1:20012", Cluster: "127.0.0.1:20013", Neighbors: []string{"A", "C"}},
		{Name: "C", Client: "127.0.0.1:0", NATS: "127.0.0.1:0", Cluster: "127.0.0.1:0", Monitor: "127.0.0.1:0", Neighbors: []string{"B"}},
	}
	return c
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *herdfile.Config)
		want   error  // nil: valid
		field  string // the field the error must name
	}{
		{"valid", func(c *herdfile.Config) {}, nil, ""},
		{"port 0 repeats", func(c *herdfile.Config) { c.Nodes[0].Client = "127.0.0.1:0" }, nil, ""},
		{"single node no neighbors", func(c *herdfile.Config) {
			c.Nodes = c.Nodes[:1]
			c.Nodes[0].Neighbors = nil
		}, nil, ""},
		{"google with key_file", func(c *herdfile.Config) {
			c.Places.Provider, c.Places.KeyEnv, c.Places.KeyFile = herdfile.ProviderGoogle, "", "/run/secrets/key"
		}, nil, ""},
		{"ipv6 and hostname", func(c *herdfile.Config) {
			c.Nodes[0].Client, c.Nodes[0].NATS = "[::1]:20001", "localhost:20001"
		}, nil, ""},
		{"cache disabled", func(c *herdfile.Config) { c.Places.CacheTTL, c.Places.CacheSize = 0, 0 }, nil, ""},

		{"no nodes", func(c *herdfile.Config) { c.Nodes = nil }, herdfile.ErrNoNodes, "nodes"},
		{"duplicate name", func(c *herdfile.Config) {
			c.Nodes[2].Name = "A"
			c.Nodes[1].Neighbors = []string{"A"}
		}, herdfile.ErrDuplicateName, "nodes[2].name"},
		{"empty name", func(c *herdfile.Config) { c.Nodes[2].Name = "" }, herdfile.ErrBadName, "nodes[2].name"},
		{"name with dot", func(c *herdfile.Config) { c.Nodes[2].Name = "C.1" }, herdfile.ErrBadName, "nodes[2].name"},
		{"name with space", func(c *herdfile.Config) { c.Nodes[2].Name = "C 1" }, herdfile.ErrBadName, "nodes[2].name"},
		{"name with wildcard", func(c *herdfile.Config) { c.Nodes[2].Name = "*" }, herdfile.ErrBadName, "nodes[2].name"},
		{"name too long", func(c *herdfile.Config) { c.Nodes[2].Name = strings.Repeat("x", 65) }, herdfile.ErrBadName, "nodes[2].name"},
		{"herd name not a token", func(c *herdfile.Config) { c.Herd = "my herd" }, herdfile.ErrBadName, "herd"},
		{"herd name empty", func(c *herdfile.Config) { c.Herd = "" }, herdfile.ErrBadName, "herd"},
		{"unknown neighbor", func(c *herdfile.Config) { c.Nodes[1].Neighbors = []string{"A", "Z"} }, herdfile.ErrUnknownNeighbor, "nodes[1].neighbors[1]"},
		{"self neighbor", func(c *herdfile.Config) { c.Nodes[2].Neighbors = []string{"B", "C"} }, herdfile.ErrSelfNeighbor, "nodes[2].neighbors[1]"},
		{"asymmetric edge", func(c *herdfile.Config) { c.Nodes[2].Neighbors = []string{"B", "A"} }, herdfile.ErrAsymmetricEdge, "nodes[2].neighbors[1]"},
		{"duplicate neighbor", func(c *herdfile.Config) { c.Nodes[1].Neighbors = []string{"A", "C", "A"} }, herdfile.ErrDuplicateNeighbor, "nodes[1].neighbors[2]"},
		{"duplicate address same node", func(c *herdfile.Config) { c.Nodes[0].Cluster = "127.0.0.1:20001" }, herdfile.ErrDuplicateAddress, "nodes[0].cluster"},
		{"duplicate address across nodes", func(c *herdfile.Config) { c.Nodes[1].Monitor = "127.0.0.1:20002" }, herdfile.ErrDuplicateAddress, "nodes[1].monitor"},
		{"duplicate address leading zero", func(c *herdfile.Config) { c.Nodes[1].Client = "127.0.0.1:020001" }, herdfile.ErrDuplicateAddress, "nodes[1].client"},
		{"duplicate address ipv6 spelling", func(c *herdfile.Config) {
			c.Nodes[0].Client, c.Nodes[1].Client = "[::1]:20001", "[0:0::1]:20001"
		}, herdfile.ErrDuplicateAddress, "nodes[1].client"},
		{"address without port", func(c *herdfile.Config) { c.Nodes[0].Client = "127.0.0.1" }, herdfile.ErrBadAddress, "nodes[0].client"},
		{"address port too big", func(c *herdfile.Config) { c.Nodes[0].NATS = "127.0.0.1:65536" }, herdfile.ErrBadAddress, "nodes[0].nats"},
		{"address named port", func(c *herdfile.Config) { c.Nodes[0].Cluster = "127.0.0.1:http" }, herdfile.ErrBadAddress, "nodes[0].cluster"},
		{"address negative port", func(c *herdfile.Config) { c.Nodes[0].Cluster = "127.0.0.1:-1" }, herdfile.ErrBadAddress, "nodes[0].cluster"},
		{"address empty host", func(c *herdfile.Config) { c.Nodes[0].Monitor = ":20004" }, herdfile.ErrBadAddress, "nodes[0].monitor"},
		{"address empty", func(c *herdfile.Config) { c.Nodes[1].Client = "" }, herdfile.ErrBadAddress, "nodes[1].client"},
		{"google without key", func(c *herdfile.Config) {
			c.Places.Provider, c.Places.KeyEnv, c.Places.KeyFile = herdfile.ProviderGoogle, "", ""
		}, herdfile.ErrMissingKey, "places.key_env"},
		{"google-legacy without key", func(c *herdfile.Config) {
			c.Places.Provider, c.Places.KeyEnv, c.Places.KeyFile = herdfile.ProviderGoogleLegacy, "", ""
		}, herdfile.ErrMissingKey, "places.key_env"},
		{"key_env not a name", func(c *herdfile.Config) { c.Places.KeyEnv = "AIza-secret" }, herdfile.ErrBadKeySource, "places.key_env"},
		{"bad provider", func(c *herdfile.Config) { c.Places.Provider = "bing" }, herdfile.ErrBadProvider, "places.provider"},
		{"bad base url", func(c *herdfile.Config) { c.Places.BaseURL = "localhost:8080" }, herdfile.ErrBadBaseURL, "places.base_url"},
		{"places timeout zero", func(c *herdfile.Config) { c.Places.Timeout = 0 }, herdfile.ErrBadLimit, "places.timeout"},
		{"places max_concurrent zero", func(c *herdfile.Config) { c.Places.MaxConcurrent = 0 }, herdfile.ErrBadLimit, "places.max_concurrent"},
		{"places cache_ttl negative", func(c *herdfile.Config) { c.Places.CacheTTL = -1 }, herdfile.ErrBadLimit, "places.cache_ttl"},
		{"places cache_size negative", func(c *herdfile.Config) { c.Places.CacheSize = -1 }, herdfile.ErrBadLimit, "places.cache_size"},
		{"max_line_bytes too small", func(c *herdfile.Config) { c.Limits.MaxLineBytes = 63 }, herdfile.ErrBadLimit, "limits.max_line_bytes"},
		{"max_line_bytes too large", func(c *herdfile.Config) { c.Limits.MaxLineBytes = server.MaxLineBytesCap + 1 }, herdfile.ErrBadLimit, "limits.max_line_bytes"},
		{"idle_timeout zero", func(c *herdfile.Config) { c.Limits.IdleTimeout = 0 }, herdfile.ErrBadLimit, "limits.idle_timeout"},
		{"write_timeout negative", func(c *herdfile.Config) { c.Limits.WriteTimeout = -1 }, herdfile.ErrBadLimit, "limits.write_timeout"},
		{"max_connections zero", func(c *herdfile.Config) { c.Limits.MaxConnections = 0 }, herdfile.ErrBadLimit, "limits.max_connections"},
		{"max_outstanding negative", func(c *herdfile.Config) { c.Limits.MaxOutstanding = -5 }, herdfile.ErrBadLimit, "limits.max_outstanding"},
		{"observer subscriptions low", func(c *herdfile.Config) { c.Limits.Observers.Subscriptions = 10 }, herdfile.ErrBadLimit, "limits.observers.subscriptions"},
		{"observer connections zero", func(c *herdfile.Config) { c.Limits.Observers.Connections = 0 }, herdfile.ErrBadLimit, "limits.observers.connections"},
		{"observer pending small", func(c *herdfile.Config) { c.Limits.Observers.PendingBytes = 1 << 10 }, herdfile.ErrBadLimit, "limits.observers.pending_bytes"},
		{"observer payload small", func(c *herdfile.Config) { c.Limits.Observers.Payload = 4096 }, herdfile.ErrBadLimit, "limits.observers.payload"},
		{"observer payload large", func(c *herdfile.Config) { c.Limits.Observers.Payload = 64 << 20 }, herdfile.ErrBadLimit, "limits.observers.payload"},
		{"observer limits raised", func(c *herdfile.Config) {
			c.Limits.Observers = herdfile.ObserverLimits{Subscriptions: 5000, Connections: 200, PendingBytes: 32 << 20, Payload: 1 << 20}
		}, nil, ""},
		{"bad log level", func(c *herdfile.Config) { c.Log.Level = "verbose" }, herdfile.ErrBadLogLevel, "log.level"},
		{"bad log format", func(c *herdfile.Config) { c.Log.Format = "xml" }, herdfile.ErrBadLogFormat, "log.format"},
		{"negative sync interval", func(c *herdfile.Config) { c.AntiEntropy.Interval = -time.Second }, herdfile.ErrBadLimit, "antientropy.interval"},
		{"sync jitter of 1", func(c *herdfile.Config) { c.AntiEntropy.Jitter = 1 }, herdfile.ErrBadLimit, "antientropy.jitter"},
		{"zero sync timeout", func(c *herdfile.Config) { c.AntiEntropy.Timeout = 0 }, herdfile.ErrBadLimit, "antientropy.timeout"},
		{"storage fsync unknown", func(c *herdfile.Config) { c.Storage.Fsync = "sometimes" }, storage.ErrBadFsync, "storage.fsync"},
		{"storage fsync empty", func(c *herdfile.Config) { c.Storage.Dir, c.Storage.Fsync = "/var/lib/herd", "" }, storage.ErrBadFsync, "storage.fsync"},
		{"storage dir NUL", func(c *herdfile.Config) { c.Storage.Dir = "a\x00b" }, herdfile.ErrBadStorageDir, "storage.dir"},
		{"storage always", func(c *herdfile.Config) { c.Storage.Dir, c.Storage.Fsync = "data", "always" }, nil, ""},
		{"websocket on loopback", func(c *herdfile.Config) { c.Nodes[0].Websocket = "127.0.0.1:20005" }, nil, ""},
		{"websocket on localhost", func(c *herdfile.Config) { c.Nodes[2].Websocket = "localhost:0" }, nil, ""},
		{"websocket not loopback", func(c *herdfile.Config) { c.Nodes[0].Websocket = "0.0.0.0:20005" }, herdfile.ErrWebsocketNoTLS, "nodes[0].websocket"},
		{"websocket duplicate address", func(c *herdfile.Config) { c.Nodes[1].Websocket = "127.0.0.1:20004" }, herdfile.ErrDuplicateAddress, "nodes[1].websocket"},
		{"websocket bad address", func(c *herdfile.Config) { c.Nodes[1].Websocket = "127.0.0.1" }, herdfile.ErrBadAddress, "nodes[1].websocket"},
		{"log files", func(c *herdfile.Config) { c.Log.FileDir, c.Nodes[1].LogFile = "logs", "/var/log/b.log" }, nil, ""},
		{"log file_dir NUL", func(c *herdfile.Config) { c.Log.FileDir = "a\x00b" }, herdfile.ErrBadLogFile, "log.file_dir"},
		{"node log_file NUL", func(c *herdfile.Config) { c.Nodes[2].LogFile = "a\x00b" }, herdfile.ErrBadLogFile, "nodes[2].log_file"},
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
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want errors.Is %v", err, tt.want)
			}
			assertFieldError(t, err, tt.want, tt.field)
		})
	}
}

// assertFieldError checks that err holds a *FieldError for field wrapping
// want, and that the message starts with the field's name.
func assertFieldError(t *testing.T, err, want error, field string) {
	t.Helper()
	for _, e := range flatten(err) {
		var fe *herdfile.FieldError
		if errors.As(e, &fe) && fe.Field == field && errors.Is(fe, want) {
			if !strings.HasPrefix(e.Error(), field+": ") {
				t.Errorf("message %q does not start with field %q", e.Error(), field)
			}
			return
		}
	}
	t.Errorf("no FieldError for field %q wrapping %v in:\n%v", field, want, err)
}

// flatten undoes errors.Join.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func TestConfig_Validate_reportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Herd = "a.b"
	c.Log.Level = "loud"
	c.Nodes[2].Neighbors = []string{"B", "Z"}
	err := c.Validate()
	for _, want := range []struct {
		err   error
		field string
	}{
		{herdfile.ErrBadName, "herd"},
		{herdfile.ErrBadLogLevel, "log.level"},
		{herdfile.ErrUnknownNeighbor, "nodes[2].neighbors[1]"},
	} {
		assertFieldError(t, err, want.err, want.field)
	}
	if n := len(flatten(err)); n != 3 {
		t.Errorf("got %d problems, want 3:\n%v", n, err)
	}
}

func TestConfig_Validate_asymmetricReportedOnce(t *testing.T) {
	c := validConfig()
	c.Nodes[0].Neighbors = []string{"B", "C"} // C does not list A
	errs := flatten(c.Validate())
	if len(errs) != 1 {
		t.Fatalf("got %d problems, want 1:\n%v", len(errs), errors.Join(errs...))
	}
	assertFieldError(t, errs[0], herdfile.ErrAsymmetricEdge, "nodes[0].neighbors[1]")
	if msg := errs[0].Error(); !strings.Contains(msg, "A lists C but C") {
		t.Errorf("message %q does not say which edge", msg)
	}
}

func TestConfig_Validate_keyEnvNotEchoed(t *testing.T) {
	c := validConfig()
	const secret = "AIzaSy-not-a-name-0123456789"
	c.Places.KeyEnv = secret
	err := c.Validate()
	if !errors.Is(err, herdfile.ErrBadKeySource) {
		t.Fatalf("Validate() = %v, want ErrBadKeySource", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q echoes key_env value", err)
	}
}
