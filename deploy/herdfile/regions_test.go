package herdfile_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
)

// regionsConfig is validConfig (A - B - C) spread over two regions: A and
// B in eu, C in us, each with a gateway.
func regionsConfig() herdfile.Config {
	c := validConfig()
	for i, r := range []string{"eu", "eu", "us"} {
		c.Nodes[i].Region = r
	}
	c.Nodes[0].Gateway, c.Nodes[1].Gateway, c.Nodes[2].Gateway = "127.0.0.1:20005", "127.0.0.1:20015", "127.0.0.1:0"
	return c
}

func TestConfig_Validate_regions(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(c *herdfile.Config)
		want   error
		field  string
	}{
		{"two regions", func(c *herdfile.Config) {}, nil, ""},
		{"one region named", func(c *herdfile.Config) {
			c.Nodes[2].Region = "eu"
			c.Nodes[2].Gateway = ""
		}, nil, ""},
		{"one region, no gateways", func(c *herdfile.Config) {
			for i := range c.Nodes {
				c.Nodes[i].Region, c.Nodes[i].Gateway = "", ""
			}
		}, nil, ""},
		{"default region and a named one", func(c *herdfile.Config) { c.Nodes[0].Region, c.Nodes[1].Region = "", "" }, nil, ""},
		{"region not a token", func(c *herdfile.Config) { c.Nodes[2].Region = "us east" }, herdfile.ErrBadRegion, "nodes[2].region"},
		{"region too long", func(c *herdfile.Config) { c.Nodes[2].Region = strings.Repeat("u", 65) }, herdfile.ErrBadRegion, "nodes[2].region"},
		{"region twice, case", func(c *herdfile.Config) { c.Nodes[1].Region = "EU" }, herdfile.ErrDuplicateRegion, "nodes[1].region"},
		{"region is the herd's name in another case", func(c *herdfile.Config) {
			c.Nodes[0].Region = ""
			c.Nodes[2].Region = "Herd"
		}, herdfile.ErrDuplicateRegion, "nodes[2].region"},
		{"region without gateway", func(c *herdfile.Config) { c.Nodes[2].Gateway = "" }, herdfile.ErrMissingGateway, "nodes[2].gateway"},
		{"one node of a region without gateway", func(c *herdfile.Config) { c.Nodes[1].Gateway = "" }, herdfile.ErrMissingGateway, "nodes[1].gateway"},
		{"gateway bad address", func(c *herdfile.Config) { c.Nodes[0].Gateway = "127.0.0.1" }, herdfile.ErrBadAddress, "nodes[0].gateway"},
		{"gateway port twice", func(c *herdfile.Config) { c.Nodes[1].Gateway = "127.0.0.1:20005" }, herdfile.ErrDuplicateAddress, "nodes[1].gateway"},
		{"gateway port is a cluster port", func(c *herdfile.Config) { c.Nodes[1].Gateway = "127.0.0.1:20003" }, herdfile.ErrDuplicateAddress, "nodes[1].gateway"},
		{"cross-region edge to an unknown node", func(c *herdfile.Config) { c.Nodes[2].Neighbors = []string{"B", "D"} }, herdfile.ErrUnknownNeighbor, "nodes[2].neighbors[1]"},
		{"cross-region edge one way", func(c *herdfile.Config) { c.Nodes[2].Neighbors = []string{"B", "A"} }, herdfile.ErrAsymmetricEdge, "nodes[2].neighbors[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := regionsConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *herdfile.FieldError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.field+": ") {
				t.Fatalf("Validate() = %v, want %v at %s", err, tt.want, tt.field)
			}
		})
	}
}

func TestConfig_Regions(t *testing.T) {
	c := regionsConfig()
	c.Nodes[0].Region = "" // the herd's region
	if got := c.Regions(); !slices.Equal(got, []string{"herd", "eu", "us"}) {
		t.Errorf("Regions() = %v", got)
	}
	if c.Region("A") != "herd" || c.Region("C") != "us" || c.Region("Z") != "" {
		t.Errorf("Region: A %q, C %q, Z %q", c.Region("A"), c.Region("C"), c.Region("Z"))
	}
	if got := c.RegionNodes("eu"); !slices.Equal(got, []string{"B"}) {
		t.Errorf("RegionNodes(eu) = %v", got)
	}
	if got := c.Gateways("eu"); !slices.Equal(got, []string{"127.0.0.1:20015"}) {
		t.Errorf("Gateways(eu) = %v", got)
	}
	if got := c.RegionMap(); !maps.Equal(got, map[string]string{"A": "herd", "B": "eu", "C": "us"}) {
		t.Errorf("RegionMap() = %v", got)
	}
	// A file that names no region is one region, named after the herd.
	d, err := herdfile.Parse(deploy.DefaultHerdFile())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Regions(); !slices.Equal(got, []string{"herd"}) {
		t.Errorf("default herd file's regions %v, want [herd]", got)
	}
}
