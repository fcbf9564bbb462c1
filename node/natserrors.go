package node

import (
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/ratelog"
)

// natsErrors is the asynchronous error handler of the node's own NATS
// connection. Above all it reports a slow consumer: the flood dropped
// messages a subscription could not keep up with (anti-entropy repairs
// them), counted in the metrics. Errors come from nats.go's callback
// goroutine, possibly in bursts, so each kind is logged at most once a
// second with a count of the rest.
func (n *Node) natsErrors() nats.ErrHandler {
	var dropped func()
	if m := n.metrics; m != nil {
		dropped = func() { m.Dropped(1, bus.DropSlowConsumer) }
	}
	return natsErrorHandler(n.parts.log, dropped)
}

func natsErrorHandler(log *slog.Logger, dropped func()) nats.ErrHandler {
	limit := ratelog.New(log, ratelog.DefaultConfig())
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		if errors.Is(err, nats.ErrSlowConsumer) && dropped != nil {
			dropped()
		}
		limit.LogKind(slog.LevelWarn, err.Error(), "nats connection error", "subject", subject, "err", err)
	}
}

// natsDisconnects is the disconnect handler of the node's own NATS
// connection: the connection to its in-process server never drops unless
// the server closed it (a slow consumer, a stalled write), and whatever
// was in flight then is lost; each episode is counted and logged.
func (n *Node) natsDisconnects() nats.ConnErrHandler {
	limit := ratelog.New(n.parts.log, ratelog.DefaultConfig())
	m := n.metrics
	return func(_ *nats.Conn, err error) {
		if n.closing.Load() {
			return // Close closes it
		}
		if m != nil {
			m.Dropped(1, bus.DropDisconnected)
		}
		limit.LogKind(slog.LevelWarn, "disconnected", "node connection lost its nats server: flood messages in flight lost", "err", err)
	}
}
