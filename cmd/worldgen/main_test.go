package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/fixture.world.json")

const (
	fixtureIn  = "testdata/fixture.topo.json"
	fixtureOut = "testdata/fixture.world.json"
)

// TestRun_Fixture runs the command on a small hand-made topology (a
// transform, a reversed arc, a multipolygon and a degenerate ring) and
// compares the output byte for byte with the golden file.
func TestRun_Fixture(t *testing.T) {
	out := filepath.Join(t.TempDir(), "world.json")
	var log bytes.Buffer
	if err := run([]string{"-in", fixtureIn, "-out", out}, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(fixtureOut, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(fixtureOut)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n got %s\nwant %s", fixtureOut, got, want)
	}
	// The degenerate ring (one point after quantization) is left out.
	var w struct{ Rings [][]int }
	if err := json.Unmarshal(got, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Rings) != 3 {
		t.Errorf("%d rings, want 3", len(w.Rings))
	}
}

// TestRun_Committed regenerates the committed outline from world-atlas when
// the browser test's node_modules are installed, and checks it is the same.
func TestRun_Committed(t *testing.T) {
	in := "../../node/live/browsertest/node_modules/world-atlas/land-110m.json"
	if _, err := os.Stat(in); err != nil {
		t.Skipf("world-atlas not installed (cd node/live/browsertest && npm ci): %v", err)
	}
	out := filepath.Join(t.TempDir(), "world.json")
	if err := run([]string{"-in", in, "-out", out}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile("../../node/live/static/world.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("node/live/static/world.json differs from the generator's output; regenerate it (see cmd/worldgen)")
	}
	if len(want) > 200<<10 {
		t.Errorf("world.json is %d bytes, want < 200 KiB", len(want))
	}
}

func TestRun_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no args", nil},
		{"missing file", []string{"-in", filepath.Join(dir, "none"), "-out", filepath.Join(dir, "o")}},
		{"not json", []string{"-in", write("a", "nope"), "-out", filepath.Join(dir, "o")}},
		{"not a topology", []string{"-in", write("b", `{"type":"Feature"}`), "-out", filepath.Join(dir, "o")}},
		{"no such object", []string{"-in", write("c", `{"type":"Topology","objects":{}}`), "-out", filepath.Join(dir, "o")}},
		{"arc out of range", []string{"-in", write("d", `{"type":"Topology","arcs":[],"objects":{"land":{"type":"Polygon","arcs":[[3]]}}}`), "-out", filepath.Join(dir, "o")}},
		{"lines", []string{"-in", write("e", `{"type":"Topology","arcs":[],"objects":{"land":{"type":"LineString","arcs":[0]}}}`), "-out", filepath.Join(dir, "o")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(tt.args, &bytes.Buffer{}); err == nil {
				t.Error("run succeeded, want an error")
			}
		})
	}
}
