package node

import (
	"slices"

	"github.com/herdhq/herd/embeddednats"
)

// meshHealth fills in which neighbors are not reachable (up: see
// Node.reachable), which herd peers of its region ns has no route to, and
// which other regions its gateways do not deliver to. A route counts once
// the remote accepted it (it sent its interest): a dialled server that is
// about to refuse the route has been registered for a moment, or for as
// long as it holds the refusal.
//
// Missing neighbors make the node unhealthy: the flood needs them.
// Unreachable peers do not, but while any is listed the route mesh is
// incomplete and NATS delivers nothing between this node and them (it
// never relays over two hops), so a half-formed mesh is visible.
func meshHealth(h *Health, up []string, ns *embeddednats.Server) {
	for _, nb := range h.Neighbors {
		if !slices.Contains(up, nb) {
			h.Missing = append(h.Missing, nb)
		}
	}
	h.UnreachablePeers = ns.MissingPeers()
	h.UnreachableRegions = ns.MissingRegions()
}
