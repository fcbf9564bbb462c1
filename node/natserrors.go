package node

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// natsErrors reports the asynchronous errors of the node's own NATS
// connection — above all a slow consumer, which means the flood dropped
// messages a subscription could not keep up with (anti-entropy repairs
// them). They come from nats.go's callback goroutine, possibly in bursts,
// so each kind is logged at most once a second with a count of the rest.
type natsErrors struct {
	n *Node

	mu      sync.Mutex // guards last, held
	last    map[string]time.Time
	held    map[string]int
	dropped func() // counts a slow-consumer drop in the metrics, if any
}

func (e *natsErrors) handler(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if err == nats.ErrSlowConsumer && e.dropped != nil {
		e.dropped()
	}
	key := err.Error()
	e.mu.Lock()
	now := time.Now()
	if now.Sub(e.last[key]) < time.Second {
		e.held[key]++
		e.mu.Unlock()
		return
	}
	held := e.held[key]
	e.last[key], e.held[key] = now, 0
	e.mu.Unlock()
	e.n.log.Warn("nats connection error", "subject", subject, "err", err, "repeats_not_logged", held)
}

// natsErrorHandler is the node connection's async error handler.
func (n *Node) natsErrorHandler() nats.Option {
	e := &natsErrors{n: n, last: map[string]time.Time{}, held: map[string]int{}}
	if n.metrics != nil {
		e.dropped = func() { n.metrics.Dropped(1, "slow consumer") }
	}
	return nats.ErrorHandler(e.handler)
}
