package herdfile

import "github.com/herdhq/herd/embeddednats"

// ObserverLimits bound what the connections of a node's NATS client port
// (observers and tools, without credentials) may cost the node. The
// embedded NATS server enforces them (embeddednats.ObserverLimits, which
// owns the defaults and bounds) and refuses what goes beyond with an error
// to the client.
type ObserverLimits struct {
	// Subscriptions is the most subscriptions one connection may hold.
	Subscriptions int `yaml:"subscriptions"`
	// Connections is the most observer connections at once.
	Connections int `yaml:"connections"`
	// PendingBytes is the most the node queues for one connection that
	// does not keep up; then it is closed as a slow consumer.
	PendingBytes int64 `yaml:"pending_bytes"`
	// Payload is the largest message, e.g. a service request, a client may
	// publish.
	Payload int32 `yaml:"payload"`
}

// DefaultObserverLimits are the embedded server's defaults.
func DefaultObserverLimits() ObserverLimits {
	d := embeddednats.DefaultObserverLimits()
	return ObserverLimits{Subscriptions: d.Subscriptions, Connections: d.Connections, PendingBytes: d.PendingBytes, Payload: d.Payload}
}

// NATS is l as the embedded server takes it.
func (l ObserverLimits) NATS() embeddednats.ObserverLimits {
	return embeddednats.ObserverLimits{Subscriptions: l.Subscriptions, Connections: l.Connections, PendingBytes: l.PendingBytes, Payload: l.Payload}
}

func (l ObserverLimits) validate(p *problems) {
	const f = "limits.observers."
	if l.Subscriptions < embeddednats.MinObserverSubscriptions || l.Subscriptions > embeddednats.MaxObserverCount {
		p.add(f+"subscriptions", ErrBadLimit, "%d, want %d..%d (the node's own connections need a few)",
			l.Subscriptions, embeddednats.MinObserverSubscriptions, embeddednats.MaxObserverCount)
	}
	if l.Connections < 1 || l.Connections > embeddednats.MaxObserverCount {
		p.add(f+"connections", ErrBadLimit, "%d, want 1..%d", l.Connections, embeddednats.MaxObserverCount)
	}
	if l.Payload < embeddednats.MinObserverPayload || l.Payload > embeddednats.MaxObserverPayload {
		p.add(f+"payload", ErrBadLimit, "%d, want %d..%d (the node's own messages must fit)",
			l.Payload, embeddednats.MinObserverPayload, embeddednats.MaxObserverPayload)
	}
	if l.PendingBytes < embeddednats.MinObserverPendingBytes {
		p.add(f+"pending_bytes", ErrBadLimit, "%d, want at least %d (the node's own connections share it)",
			l.PendingBytes, embeddednats.MinObserverPendingBytes)
	}
}
