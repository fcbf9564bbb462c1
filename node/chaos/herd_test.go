package chaos_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// defaultTopology is the design's five-node herd.
var defaultTopology = nodetest.DefaultTopology

// startHerd starts a whole herd in this process, every node with chaos on
// (h.Chaos); mod, if set, adjusts every node's config.
func startHerd(t testing.TB, topo map[string][]string, mod func(*node.Config)) *nodetest.Herd {
	t.Helper()
	return nodetest.Start(t, topo, nodetest.WithChaos(), nodetest.WithConfig(func(_ string, c *node.Config) {
		if mod != nil {
			mod(c)
		}
	}))
}

// iamat sends one IAMAT at +1+1 and returns the AT line.
func iamat(h *nodetest.Herd, name, client, tm string) string {
	return h.IAMAT(name, client, "+1+1", tm)
}
