package herdfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/storage"
)

// designEdges is the default herd's topology from the design.
var designEdges = [][2]string{
	{"Goloman", "Hands"}, {"Goloman", "Holiday"}, {"Goloman", "Wilkes"},
	{"Hands", "Wilkes"}, {"Holiday", "Welsh"}, {"Holiday", "Wilkes"},
}

func TestParse_defaultHerdFile(t *testing.T) {
	c, err := herdfile.Parse(deploy.DefaultHerdFile())
	if err != nil {
		t.Fatalf("Parse(default) = %v", err)
	}
	if got, want := c.Names(), []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := c.Edges(); !reflect.DeepEqual(got, designEdges) {
		t.Errorf("Edges() = %v, want %v", got, designEdges)
	}
	// Herd-wide settings in the file are the defaults, written out.
	want := herdfile.DefaultConfig()
	want.Nodes = c.Nodes
	if !reflect.DeepEqual(c, want) {
		t.Errorf("herd-wide settings differ from DefaultConfig:\n got %+v\nwant %+v", c, want)
	}
	g, ok := c.Node("Goloman")
	if !ok {
		t.Fatal(`Node("Goloman") not found`)
	}
	wantG := herdfile.Node{
		Name: "Goloman", Client: "127.0.0.1:12001", NATS: "127.0.0.1:14221",
		Cluster: "127.0.0.1:16221", Monitor: "127.0.0.1:18221",
		Neighbors: []string{"Hands", "Holiday", "Wilkes"},
	}
	if !reflect.DeepEqual(g, wantG) {
		t.Errorf("Goloman = %+v, want %+v", g, wantG)
	}
}

func TestParse_defaults(t *testing.T) {
	c, err := herdfile.Parse([]byte(`
places:
  timeout: 2s
nodes:
  - {name: Solo, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0"}
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := herdfile.DefaultConfig()
	want.Places.Timeout = 2 * time.Second
	if want.Storage.Dir != "" || want.Storage.FsyncMode() != storage.DefaultConfig().Fsync {
		t.Errorf("default storage %+v, want memory only and storage's fsync mode", want.Storage)
	}
	want.Nodes = []herdfile.Node{{Name: "Solo", Client: "127.0.0.1:0", NATS: "127.0.0.1:0", Cluster: "127.0.0.1:0"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
}

func TestParse_durations(t *testing.T) {
	c, err := herdfile.Parse([]byte(`
places: {timeout: 1500ms, cache_ttl: 1m30s}
limits: {idle_timeout: 2h, write_timeout: 250us}
nodes:
  - {name: Solo, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "127.0.0.1:0"}
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	for _, tt := range []struct {
		field     string
		got, want time.Duration
	}{
		{"places.timeout", c.Places.Timeout, 1500 * time.Millisecond},
		{"places.cache_ttl", c.Places.CacheTTL, 90 * time.Second},
		{"limits.idle_timeout", c.Limits.IdleTimeout, 2 * time.Hour},
		{"limits.write_timeout", c.Limits.WriteTimeout, 250 * time.Microsecond},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.field, tt.got, tt.want)
		}
	}
}

func TestParse_errors(t *testing.T) {
	const node = "nodes: [{name: Solo, client: \"127.0.0.1:0\", nats: \"127.0.0.1:0\", cluster: \"127.0.0.1:0\"}]\n"
	tests := []struct {
		name  string
		yaml  string
		want  []string // substrings of the error
		isErr error    // if non-nil, errors.Is must hold
	}{
		{"unknown top-level field", "herd: h\nsecrets: {user: x}\n" + node, []string{"line 2", "field secrets not found"}, nil},
		{"unknown auth field", "herd: h\nauth: {user: x}\n" + node, []string{"line 2", "field user not found"}, nil},
		{"password in herd file", "auth:\n  routes: {user: herd, password: hunter2}\n" + node, []string{"line 2", "field password not found"}, nil},
		{"unknown nested field", "places:\n  provider: offline\n  api_key: x\n" + node, []string{"line 3", "field api_key not found"}, nil},
		{"unknown node field", "nodes:\n  - name: Solo\n    clinet: 127.0.0.1:0\n", []string{"line 3", "field clinet not found"}, nil},
		{"duplicate key", "herd: a\nherd: b\n" + node, []string{"line 2", "herd"}, nil},
		{"integer duration", "limits: {idle_timeout: 30}\n" + node, []string{"line 1", "time.Duration"}, nil},
		{"bad duration", "limits: {idle_timeout: soon}\n" + node, []string{"line 1", "soon"}, nil},
		{"string for int", "limits: {max_connections: many}\n" + node, []string{"line 1", "many"}, nil},
		{"syntax", "herd: [\n", []string{"parse herd file"}, nil},
		{"two documents", node + "---\n" + node, []string{"more than one YAML document"}, nil},
		{"empty", "", []string{"nodes: no nodes"}, herdfile.ErrNoNodes},
		{"invalid after decode", "log: {level: loud}\n" + node, []string{"log.level"}, herdfile.ErrBadLogLevel},
		{"bad fsync", "storage: {dir: data, fsync: sometimes}\n" + node, []string{"storage.fsync", `"sometimes"`, "always, everysec or no"}, storage.ErrBadFsync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := herdfile.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herd.yaml")
	data := "places: {provider: google, key_env: \"\", key_file: secrets/key}\n" +
		"log: {file_dir: logs}\n" +
		"storage: {dir: data, fsync: always}\n" +
		"nodes: [{name: Solo, client: \"127.0.0.1:0\", nats: \"127.0.0.1:0\", cluster: \"127.0.0.1:0\"},\n" +
		"  {name: Duo, client: \"127.0.0.1:0\", nats: \"127.0.0.1:0\", cluster: \"127.0.0.1:0\", log_file: duo.log}]\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := herdfile.Load(path)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if want := filepath.Join(dir, "secrets", "key"); c.Places.KeyFile != want {
		t.Errorf("key_file = %q, want %q (resolved against the herd file)", c.Places.KeyFile, want)
	}
	for _, tt := range []struct{ node, want string }{
		{"Solo", filepath.Join(dir, "logs", "Solo.log")}, // in log.file_dir
		{"Duo", filepath.Join(dir, "duo.log")},           // its own log_file wins
		{"Nobody", ""},
	} {
		if got := c.LogFile(tt.node); got != tt.want {
			t.Errorf("LogFile(%s) = %q, want %q (resolved against the herd file)", tt.node, got, tt.want)
		}
	}

	if want := filepath.Join(dir, "data", "Solo"); c.Storage.NodeDir("Solo") != want || c.Storage.FsyncMode() != storage.FsyncAlways {
		t.Errorf("storage: node dir %q fsync %v, want %q (resolved against the herd file), always", c.Storage.NodeDir("Solo"), c.Storage.FsyncMode(), want)
	}

	if _, err := herdfile.Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("nodes: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := herdfile.Load(bad); !errors.Is(err, herdfile.ErrNoNodes) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) = %v, want ErrNoNodes naming %s", err, bad)
	}
}

func TestConfig_Node(t *testing.T) {
	c := validConfig()
	if n, ok := c.Node("B"); !ok || n.Client != "127.0.0.1:20011" {
		t.Errorf(`Node("B") = %+v, %v`, n, ok)
	}
	if _, ok := c.Node("Z"); ok {
		t.Error(`Node("Z") found, want not found`)
	}
}

func TestConfig_Neighbors(t *testing.T) {
	c := validConfig()
	c.Nodes[1].Neighbors = []string{"C", "A"}
	got := c.Neighbors("B")
	if want := []string{"C", "A"}; !slices.Equal(got, want) {
		t.Errorf(`Neighbors("B") = %v, want %v (file order)`, got, want)
	}
	got[0] = "X"
	if c.Nodes[1].Neighbors[0] != "C" {
		t.Error("Neighbors returned the config's own slice")
	}
	if got := c.Neighbors("Z"); got != nil {
		t.Errorf(`Neighbors("Z") = %v, want nil`, got)
	}
}

func TestConfig_Edges(t *testing.T) {
	c := validConfig()
	want := [][2]string{{"A", "B"}, {"B", "C"}}
	if got := c.Edges(); !reflect.DeepEqual(got, want) {
		t.Errorf("Edges() = %v, want %v", got, want)
	}
	c.Nodes = nil
	if got := c.Edges(); len(got) != 0 {
		t.Errorf("Edges() of no nodes = %v", got)
	}
}
