package live_test

import (
	"slices"
	"testing"
)

// TestLive_BrowserRegions loads a page of a herd of three regions in
// headless chromium: the nodes are drawn grouped by region, each inside
// its region's outline, with a gateway edge between every two regions
// drawn up; when a region's nodes stop, its gateway edges are drawn down
// and the one between the other two stays up.
func TestLive_BrowserRegions(t *testing.T) {
	nodeBin, chromium := browserEnv(t)
	out := artifactsDir(t)
	h := startRegions(t)
	d := startDriver(t, nodeBin, chromium, h.Node("E1").MonitorURL()+"/", out, "regions")
	d.send(map[string]any{"cmd": "expect", "nodes": len(regionsTopology), "edges": 6, "regions": 3, "gateways": 3})
	m := d.step("regions")
	placed, _ := m["placed"].(map[string]any)
	for name, region := range regionOf {
		p, _ := placed[name].(map[string]any)
		inside, _ := p["inside"].([]any)
		if p["region"] != region || !slices.Equal(inside, []any{region}) {
			t.Errorf("%s drawn as region %v inside outlines %v, want inside %s's only", name, p["region"], inside, region)
		}
	}
	t.Logf("regions drawn: %s", m["path"])

	h.Stop("A1")
	h.Stop("A2")
	d.send(map[string]any{"cmd": "stopped", "region": "ap"})
	m = d.step("down")
	gws, _ := m["gateways"].([]any)
	for _, g := range gws {
		gv, _ := g.(map[string]any)
		touchesAP := gv["a"] == "ap" || gv["b"] == "ap"
		if want := map[bool]string{true: "down", false: "up"}[touchesAP]; gv["state"] != want {
			t.Errorf("gateway %v–%v drawn %v after ap stopped, want %s", gv["a"], gv["b"], gv["state"], want)
		}
	}
	if p, _ := m["problems"].([]any); len(p) > 0 {
		t.Errorf("page problems: %v", p)
	}
	t.Logf("ap gone: %s", m["path"])
	if err := d.wait(); err != nil {
		t.Errorf("browser script: %v", err)
	}
}
