package node

import (
	"context"
	"slices"
	"time"
)

// peerPoll is how often a node looks at its NATS server's routes to notice
// a neighbor coming (back) up. nats-server has no route event for embedders;
// polling Routez this often costs microseconds.
const peerPoll = 100 * time.Millisecond

// peerWatch tells the bus when a neighbor's route comes up, so that the
// node syncs with it at once rather than at the next periodic round.
type peerWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// watchPeers starts polling peers and calling up for each neighbor that
// appears among them (at the first poll too: a neighbor already up at
// start).
func watchPeers(neighbors func() []string, peers func() []string, up func(string)) *peerWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &peerWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(peerPoll)
		defer t.Stop()
		var prev []string
		for {
			cur := peers()
			for _, n := range neighbors() {
				if slices.Contains(cur, n) && !slices.Contains(prev, n) {
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
