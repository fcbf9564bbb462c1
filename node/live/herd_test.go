package live_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
)

// defaultTopology is the design's five-node herd.
var defaultTopology = nodetest.DefaultTopology

// startHerd starts a whole herd of real nodes in this process, each
// serving its live view at / of its monitor port, wired as a node wires
// it: the view's counts are the node's metrics.
func startHerd(t testing.TB, topo map[string][]string, mods ...func(string, *node.Config)) *nodetest.Herd {
	t.Helper()
	return nodetest.Start(t, topo, nodetest.WithConfig(func(name string, c *node.Config) {
		nodetest.Monitor(name, c)
		for _, mod := range mods {
			mod(name, c)
		}
	}))
}

// iamat sends one IAMAT from (lat, lon) to a node and returns its AT reply.
func iamat(h *nodetest.Herd, name, client string, lat, lon float64) string {
	return h.IAMAT(name, client, location(lat, lon), fmt.Sprintf("%d.000000001", time.Now().Unix()))
}

// location formats ISO 6709 as the protocol wants it: +34.068930-118.445127.
func location(lat, lon float64) string { return fmt.Sprintf("%+.6f%+.6f", lat, lon) }
