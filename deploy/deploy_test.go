package deploy_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
)

func TestDefaultHerdFile(t *testing.T) {
	a := deploy.DefaultHerdFile()
	if _, err := herdfile.Parse(a); err != nil {
		t.Fatalf("built-in herd file does not parse: %v", err)
	}
	orig := bytes.Clone(a)
	a[0] ^= 0xff
	if b := deploy.DefaultHerdFile(); !bytes.Equal(b, orig) {
		t.Error("modifying a returned copy changed the built-in file")
	}
}

// The shipped regions file is three regions of three nodes, each region's
// nodes neighbors of each other, one edge between every two regions, and
// every setting but the nodes the same as the default herd file's.
func TestRegionsHerdFile(t *testing.T) {
	hf, err := herdfile.Parse(deploy.RegionsHerdFile())
	if err != nil {
		t.Fatalf("regions.yaml does not parse: %v", err)
	}
	def, _ := herdfile.Parse(deploy.DefaultHerdFile())
	if got := hf.Regions(); len(got) != 3 {
		t.Fatalf("regions %v, want three", got)
	}
	cross := 0
	for _, r := range hf.Regions() {
		if n := len(hf.RegionNodes(r)); n != 3 {
			t.Errorf("region %s has %d nodes, want 3", r, n)
		}
	}
	for _, e := range hf.Edges() {
		if hf.Region(e[0]) != hf.Region(e[1]) {
			cross++
		}
	}
	if cross != 3 {
		t.Errorf("%d edges between regions, want 3 (a ring)", cross)
	}
	hf.Nodes, def.Nodes = nil, nil
	if !reflect.DeepEqual(hf, def) {
		t.Errorf("regions.yaml's settings differ from herd.yaml's:\n%+v\n%+v", hf, def)
	}
}
