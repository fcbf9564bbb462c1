package node

import (
	"slices"

	"github.com/herdhq/herd/embeddednats"
)

// meshHealth fills in which neighbors and which herd peers ns has no route
// to. A route counts once the remote accepted it (it sent its interest): a
// dialled server that is about to refuse the route has been registered
// for a moment, or for as long as it holds the refusal.
//
// Missing neighbors make the node unhealthy: the flood needs them.
// Unreachable peers do not, but while any is listed the route mesh is
// incomplete and NATS delivers nothing between this node and them (it
// never relays over two hops), so a half-formed mesh is visible.
func meshHealth(h *Health, ns *embeddednats.Server) {
	up := ns.Peers()
	for _, nb := range h.Neighbors {
		if !slices.Contains(up, nb) {
			h.Missing = append(h.Missing, nb)
		}
	}
	h.UnreachablePeers = ns.MissingPeers()
}
