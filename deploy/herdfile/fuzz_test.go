package herdfile_test

import (
	"testing"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
)

// FuzzParse checks that no input panics Parse, and that whatever Parse
// accepts is valid and has a symmetric neighbor graph.
func FuzzParse(f *testing.F) {
	f.Add(deploy.DefaultHerdFile())
	f.Add(deploy.RegionsHerdFile())
	f.Add([]byte("nodes: [{name: A, client: \"h:1\", nats: \"h:2\", cluster: \"h:3\"}]"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("limits: {idle_timeout: 1e9}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := herdfile.Parse(data)
		if err != nil {
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config Validate rejects: %v", err)
		}
		listed := 0
		for _, n := range c.Nodes {
			listed += len(n.Neighbors)
		}
		if got := len(c.Edges()); 2*got != listed {
			t.Fatalf("%d edges but %d neighbor entries: graph not symmetric", got, listed)
		}
	})
}
