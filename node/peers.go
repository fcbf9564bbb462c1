package node

import (
	"context"
	"slices"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/embeddednats"
)

// peerPoll is how often a node looks at its NATS server's routes to notice
// a neighbor coming (back) up. nats-server has no route event for embedders;
// polling Routez this often costs microseconds.
const peerPoll = 100 * time.Millisecond

// routeRepairDelay is how long after a route to a neighbor closed the node
// syncs every record with it, if the neighbor is reachable again by then:
// nats-server redials a closed route within about a second, and until it is
// back (and has sent its interest again) what the flood publishes towards
// the neighbor is dropped without a count. A route that stays down longer
// is repaired when it comes back, like any neighbor coming up.
const routeRepairDelay = 2 * time.Second

// peerWatch tells the bus when a neighbor's route comes up, so that the
// node syncs with it at once rather than at the next periodic round, and
// when a route to a reachable neighbor closed and came back between two
// polls (lostRoutes).
type peerWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// watchPeers starts polling peers and calling up for each neighbor that
// appears among them (at the first poll too: a neighbor already up at
// start), and for each neighbor reachable routeRepairDelay after lost
// reported a route to it closed.
func watchPeers(neighbors func() []string, peers func() []string, lost *lostRoutes, up func(string)) *peerWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &peerWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(peerPoll)
		defer t.Stop()
		var prev []string
		for {
			cur := peers()
			due := lost.due(time.Now())
			for _, n := range neighbors() {
				if slices.Contains(cur, n) && (!slices.Contains(prev, n) || slices.Contains(due, n)) {
					up(n)
				}
			}
			prev = cur
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the watch and waits for it. Safe on nil.
func (w *peerWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}

// lostRoutes collects the remotes whose route closed
// (embeddednats.Config.OnRouteClosed), each due for a repair
// routeRepairDelay after its last close.
type lostRoutes struct {
	mu   sync.Mutex // guards when
	when map[string]time.Time
}

// closed records a route close. Duplicate routes closed while the cluster
// forms lose nothing (the other connection carries the messages), and a
// closing server repairs nothing.
func (l *lostRoutes) closed(remote, reason string) {
	if remote == "" || reason == closedDuplicate || reason == closedShutdown {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.when == nil {
		l.when = make(map[string]time.Time)
	}
	l.when[remote] = time.Now().Add(routeRepairDelay)
}

// Route close reasons (embeddednats.ReasonLabel) that lose nothing.
var (
	closedDuplicate = embeddednats.ReasonLabel(natsserver.DuplicateRoute)
	closedShutdown  = embeddednats.ReasonLabel(natsserver.ServerShutdown)
)

// due returns and forgets the remotes due for a repair at now.
func (l *lostRoutes) due(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for n, t := range l.when {
		if !now.Before(t) {
			names = append(names, n)
			delete(l.when, n)
		}
	}
	return names
}
