package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/herdhq/herd/node"
)

// How herd node watches its route mesh: it looks every meshPoll; a peer
// missing for meshGrace (routes take a moment to form, and a restarted
// neighbor a moment to come back) is logged, and then again every
// meshLogEvery while any is missing.
const (
	meshPoll     = 250 * time.Millisecond
	meshGrace    = 5 * time.Second
	meshLogEvery = 30 * time.Second
)

// watchMesh prints "joined the herd" once the node has a route to every
// peer of the herd file (the nodes of its region) and, in a herd of
// several regions, a gateway delivering to every other region, and logs
// the peers and regions it has no route or gateway to while the mesh is
// incomplete (NATS delivers nothing between nodes without a route: a
// record may miss them), until ctx ends.
func watchMesh(ctx context.Context, out io.Writer, log *slog.Logger, n *node.Node, now func() time.Time) {
	t := time.NewTicker(meshPoll)
	defer t.Stop()
	joined := false
	var since, logged time.Time // incomplete since; last logged
	for {
		ns := n.NATS()
		missing := ns.MissingPeers()
		for _, r := range ns.MissingRegions() { // no gateway delivering there
			missing = append(missing, "region "+r)
		}
		switch {
		case len(missing) == 0 && !joined:
			joined = true
			gateways := ""
			if rs := ns.RegionNames(); len(rs) > 0 {
				gateways = fmt.Sprintf(", gateways to %d regions (%s)", len(rs), strings.Join(rs, ", "))
			}
			fmt.Fprintf(out, "node %s joined the herd: %d peers%s\n", n.Name(), len(ns.PeerNames()), gateways)
			since, logged = time.Time{}, time.Time{}
		case len(missing) == 0:
			if !logged.IsZero() {
				log.Info("routes to every peer are up again", "node", n.Name(), "peers", len(ns.PeerNames()))
			}
			since, logged = time.Time{}, time.Time{}
		case since.IsZero():
			since = now()
		case now().Sub(since) >= meshGrace && now().Sub(logged) >= meshLogEvery:
			logged = now()
			log.Warn("no route to some peers: records may miss them until their routes are up",
				"node", n.Name(), "missing", missing, "for", now().Sub(since).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
