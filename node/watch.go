package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
)

// Hop is one flood message as the herd saw it: a copy of records sent by
// Sender to To, all originated by Origin.
type Hop struct {
	To, Origin, Sender string
	// Lines are the AT lines carried.
	Lines []string
	// Stamp is the origin's clock when it published (zero if absent).
	Stamp time.Time
	// Seen is this node's clock when it saw the hop.
	Seen time.Time
}

// WatchFlood calls fn with every flood hop anywhere in the herd (a
// subscription to herd.at.> on the node's own NATS server, which the
// cluster forwards every hop to while it exists), until stop is called.
// fn runs on one goroutine, in arrival order; it must not block for long.
// Watching costs the herd one extra copy of each flood message to this
// node, and nothing when nobody watches.
func (n *Node) WatchFlood(fn func(Hop)) (stop func(), err error) {
	n.mu.Lock()
	conn := n.conn
	n.mu.Unlock()
	if conn == nil {
		return nil, fmt.Errorf("watch flood: node not started")
	}
	sub, err := conn.Subscribe(bus.SubjectPrefix+">", func(m *nats.Msg) {
		h := Hop{
			To:     strings.TrimPrefix(m.Subject, bus.SubjectPrefix),
			Origin: m.Header.Get(bus.HeaderOrigin),
			Sender: m.Header.Get(bus.HeaderSender),
			Lines:  strings.Split(strings.TrimRight(string(m.Data), "\n"), "\n"),
			Seen:   time.Now(),
		}
		if ns, err := strconv.ParseInt(m.Header.Get(bus.HeaderStamp), 10, 64); err == nil && ns > 0 {
			h.Stamp = time.Unix(0, ns)
		}
		fn(h)
	})
	if err != nil {
		return nil, fmt.Errorf("watch flood: %w", err)
	}
	if err := conn.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("watch flood: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}
