package embeddednats

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
)

// ObserverLimits bound what the connections of the NATS client port
// (observers and tools) may cost the server.
//
// nats-server has no per-user limits outside JWT accounts: these become
// its server-wide client options (max_subscriptions, max_connections,
// max_pending, max_payload), which bind the node's own in-process
// connections too. Their needs are small (a handful of subscriptions,
// messages of at most 64 KiB) except for what the server may queue for the
// node's flood subscription while the process is busy, and the minimums
// below keep them clear of any allowed setting. Routes are not affected:
// nats-server applies none of these to them.
type ObserverLimits struct {
	// Subscriptions is the most subscriptions one connection may hold;
	// nats-server answers more with -ERR 'maximum subscriptions
	// exceeded' and keeps the connection.
	Subscriptions int
	// Connections is the most client connections at once. The node's own
	// in-process connections (InProcessReserve of them) come on top.
	// nats-server refuses more with -ERR 'maximum connections exceeded'.
	Connections int
	// PendingBytes is the most bytes the server queues for one connection
	// that does not read what it subscribed to; beyond it the connection
	// is closed as a slow consumer.
	PendingBytes int64
	// Payload is the largest message (headers and data) a client may
	// publish, e.g. a service request. A larger one closes its connection
	// (-ERR 'Maximum Payload Violation').
	Payload int32
}

// Bounds and defaults of ObserverLimits.
const (
	// MinObserverSubscriptions leaves room for the node's own connections:
	// the service's endpoints and discovery subjects, the flood and sync
	// subjects, inboxes, the live view — about a dozen.
	MinObserverSubscriptions = 100
	// MinObserverPayload fits the node's own messages: flood batches of up
	// to 64 KiB plus headers, WHATSAT replies of 20 places.
	MinObserverPayload = 128 << 10
	// MaxObserverPayload is where nats-server starts warning.
	MaxObserverPayload = 8 << 20
	// MinObserverPendingBytes leaves room for what the server queues for
	// the node's own in-process connection in a burst: up to 5.4 MB was
	// seen (five nodes in one process flooding 100,000 records of 330
	// bytes as fast as they could, load average 4 to 8 on two cores), and
	// 8 MiB cut a node's connection once in four such runs; the default
	// is twice that. A cut node connection reconnects at once and
	// anti-entropy repairs what it missed.
	MinObserverPendingBytes = 8 << 20
	// MaxObserverCount bounds Subscriptions and Connections.
	MaxObserverCount = 1 << 20
	// InProcessReserve is the room kept for the node's own in-process
	// connections on top of ObserverLimits.Connections (a node uses three:
	// its nats.go connection, its service, its flood link).
	InProcessReserve = 8
)

// nats-server refuses to start with a max_payload above max_pending; the
// bounds rule that out (this fails to compile otherwise).
const _ = uint(MinObserverPendingBytes - MaxObserverPayload)

// DefaultObserverLimits are 1,000 subscriptions per connection, 32
// connections, 16 MiB queued per connection and 128 KiB messages: whatever
// observers do, at most 512 MiB of queued data and 32,000 subscriptions
// per node (nats-server's defaults: 64 MiB per connection, 65,536
// connections, no subscription limit).
func DefaultObserverLimits() ObserverLimits {
	return ObserverLimits{Subscriptions: 1000, Connections: 32, PendingBytes: 16 << 20, Payload: MinObserverPayload}
}

// ErrLimit is wrapped by Validate for an ObserverLimits field out of range.
var ErrLimit = errors.New("invalid observer limit")

func (l ObserverLimits) validate() error {
	switch {
	case l.Subscriptions < MinObserverSubscriptions || l.Subscriptions > MaxObserverCount:
		return fmt.Errorf("field ObserverLimits.Subscriptions %d: %w: want %d..%d", l.Subscriptions, ErrLimit, MinObserverSubscriptions, MaxObserverCount)
	case l.Connections < 1 || l.Connections > MaxObserverCount:
		return fmt.Errorf("field ObserverLimits.Connections %d: %w: want 1..%d", l.Connections, ErrLimit, MaxObserverCount)
	case l.Payload < MinObserverPayload || l.Payload > MaxObserverPayload:
		return fmt.Errorf("field ObserverLimits.Payload %d: %w: want %d..%d", l.Payload, ErrLimit, MinObserverPayload, MaxObserverPayload)
	case l.PendingBytes < MinObserverPendingBytes:
		return fmt.Errorf("field ObserverLimits.PendingBytes %d: %w: want at least %d", l.PendingBytes, ErrLimit, MinObserverPendingBytes)
	}
	return nil
}

// apply sets the server-wide client limits. The write deadline stays
// nats-server's: routes inherit it.
func (l ObserverLimits) apply(o *server.Options) {
	o.MaxSubs = l.Subscriptions
	o.MaxConn = l.Connections + InProcessReserve
	o.MaxPending = l.PendingBytes
	o.MaxPayload = l.Payload
}

// observerSubscribeDeny is ObserverDenySubscribe plus every queue group:
// "subject queue" entries deny queue subscriptions, and a queue name of
// ">" matches any. A plain subscription to the same subject stays allowed,
// so an observer may watch herd.> but never take a share of a queue
// group's messages (the service's requests) away from its members.
func (c Config) observerSubscribeDeny() []string {
	return append(clone(c.ObserverDenySubscribe), "> >")
}

// LimitHits count what ObserverLimits refused, since the server started.
type LimitHits struct {
	// SlowConsumers are client connections closed for falling behind
	// (PendingBytes or the write deadline): nats-server's own count.
	SlowConsumers uint64
	// Subscriptions, Connections and Payload count the refusals that
	// nats-server reports. It reports a repeated refusal at most once a
	// second (subscriptions: once every 2 s per account), so these count
	// episodes, not every refused subscription or connection; Payload
	// counts each connection closed for an oversized message.
	Subscriptions, Connections, Payload uint64
	// RouteSlowConsumers are routes closed for falling behind (not an
	// observer limit, but the same failure between nodes: the flood
	// messages queued on it were lost).
	RouteSlowConsumers uint64
}

// LimitHits returns the counts so far; zero before Start.
func (s *Server) LimitHits() LimitHits {
	h := LimitHits{
		Subscriptions: s.hits.subs.Load(),
		Connections:   s.hits.conns.Load(),
		Payload:       s.hits.payload.Load(),
	}
	if srv := s.NATS(); srv != nil {
		h.SlowConsumers = srv.NumSlowConsumersClients()
		h.RouteSlowConsumers = srv.NumSlowConsumersRoutes()
	}
	return h
}

// limitCounter counts the limit refusals nats-server reports in its log,
// the only place it reports them, before the log level or rate limit can
// drop a line. It matches nats-server's exported error values.
type limitCounter struct {
	subs, conns, payload atomic.Uint64
}

var limitReports = []struct {
	err   error
	count func(*limitCounter) *atomic.Uint64
}{
	{server.ErrTooManySubs, func(l *limitCounter) *atomic.Uint64 { return &l.subs }},
	{server.ErrTooManyConnections, func(l *limitCounter) *atomic.Uint64 { return &l.conns }},
	{server.ErrMaxPayload, func(l *limitCounter) *atomic.Uint64 { return &l.payload }},
}

// errorf counts the report in format and v, if it is one.
func (l *limitCounter) errorf(format string, v []any) {
	for _, r := range limitReports {
		if reported(r.err.Error(), format, v) {
			r.count(l).Add(1)
			return
		}
	}
}

// reported reports whether text is in format or one of its string or
// error arguments.
func reported(text, format string, v []any) bool {
	if strings.Contains(format, text) {
		return true
	}
	for _, a := range v {
		switch a := a.(type) {
		case string:
			if strings.Contains(a, text) {
				return true
			}
		case error:
			if strings.Contains(a.Error(), text) {
				return true
			}
		}
	}
	return false
}

// countingLogger passes every line on to next and counts limit refusals
// and route closes.
type countingLogger struct {
	server.Logger
	hits   *limitCounter
	closes *routeCloses
}

var _ server.Logger = countingLogger{}

func (l countingLogger) Noticef(format string, v ...any) {
	l.closes.noticef(format, v)
	l.Logger.Noticef(format, v...)
}

func (l countingLogger) Errorf(format string, v ...any) {
	l.hits.errorf(format, v)
	l.closes.errorf(format, v)
	l.Logger.Errorf(format, v...)
}
