package node

import (
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/ratelog"
)

// The node's own nats.go connection carries anti-entropy (herd.sync.<node>
// and its requests) and, while someone watches, the live view's tap; the
// flood has its own link (bus.Config.Link), whose losses the bus counts.
// What this connection loses is therefore no flood loss: an anti-entropy
// exchange that loses a message fails, and the node that started it
// counts it (herd_antientropy_exchanges_total{result="failed"}) and tries
// again; the tap drops by design. Its errors and disconnects are logged,
// not counted as flood drops.

// natsErrors is the asynchronous error handler of the node's own NATS
// connection: a slow consumer (a subscription that fell behind, its
// messages dropped) and any other error. Errors come from nats.go's
// callback goroutine, possibly in bursts, so each kind is logged at most
// once a second with a count of the rest.
func (n *Node) natsErrors() nats.ErrHandler { return natsErrorHandler(n.parts.log) }

func natsErrorHandler(log *slog.Logger) nats.ErrHandler {
	limit := ratelog.New(log, ratelog.DefaultConfig())
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		limit.LogKind(slog.LevelWarn, err.Error(), "nats connection error", "subject", subject, "err", err)
	}
}

// natsDisconnects is the disconnect handler of the node's own NATS
// connection: the connection to its in-process server never drops unless
// the server closed it (a slow consumer, a stalled write), and whatever
// was in flight then is lost; each episode is logged.
func (n *Node) natsDisconnects() nats.ConnErrHandler {
	limit := ratelog.New(n.parts.log, ratelog.DefaultConfig())
	return func(_ *nats.Conn, err error) {
		if n.closing.Load() {
			return // Close closes it
		}
		limit.LogKind(slog.LevelWarn, "disconnected", "node connection lost its nats server: anti-entropy messages in flight lost", "err", err)
	}
}
