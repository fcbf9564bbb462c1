package node_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startHerd is nodetest.Start without periodic anti-entropy rounds: a
// round that lands mid-flood may repair and relay a record, an extra hop
// the flood-rule tests would rightly reject. The exchanges at a node's
// start and on a neighbor's return still run. mods adjust every node's
// config after that.
func startHerd(t *testing.T, topo map[string][]string, mods ...func(string, *node.Config)) *nodetest.Herd {
	t.Helper()
	return nodetest.Start(t, topo, nodetest.WithConfig(func(name string, c *node.Config) {
		nodetest.FloodOnly(name, c)
		for _, mod := range mods {
			mod(name, c)
		}
	}))
}
