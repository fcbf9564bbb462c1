package bus

import "time"

// Observer is told of flood events (metrics). Methods must be quick and
// safe for concurrent use: they run on the flood's hot path.
type Observer interface {
	// Published counts one message sent to a neighbor carrying n records.
	Published(to string, n int)
	// Relayed counts those n records of a message to a neighbor that
	// another node originated (Published counted them too).
	Relayed(to string, n int)
	// Received counts one flood record received: stored (newer), or stale.
	Received(from string, newer bool)
	// Latency is the time from the origin's stamp to this node storing it.
	Latency(d time.Duration)
	// Dropped counts n records the flood lost, and why.
	Dropped(n int, why Drop)
	// Refused counts one message or line from another node that the
	// protocol refuses, and why. Nothing of it was stored.
	Refused(from string, why Refusal)
}

// Drop is why the flood lost records.
type Drop uint8

// Drops, in the order metrics list them.
const (
	// DropQueueFull: the publish queue was full (Config.QueueLen).
	DropQueueFull Drop = iota
	// DropPublishFailed: a round could not be written to the link (it
	// was down: rxLoop dials it again).
	DropPublishFailed
	// DropDisconnected: an episode (not a count of records) of the link
	// losing its NATS server, which closes a client that falls behind,
	// among others: messages in flight either way were lost.
	DropDisconnected
	NumDrops
)

var dropNames = [NumDrops]string{"queue_full", "publish_failed", "disconnected"}

// String is the drop's metric label.
func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return "unknown"
}

// Refusal is why a message or line from another node was refused.
type Refusal uint8

// Refusals, in the order metrics list them.
const (
	// RefusedNotNeighbor: the Herd-Sender is not a configured neighbor.
	RefusedNotNeighbor Refusal = iota
	// RefusedBadHeaders: Herd-Origin or Herd-Sender missing or not a
	// node name.
	RefusedBadHeaders
	// RefusedBadRecord: a line that is not a valid AT record, or (in the
	// flood) not of the message's origin.
	RefusedBadRecord
	// RefusedBadRequest: an anti-entropy request outside its protocol.
	RefusedBadRequest
	NumRefusals
)

var refusalNames = [NumRefusals]string{"not_neighbor", "bad_headers", "bad_record", "bad_request"}

// String is the refusal's metric label.
func (r Refusal) String() string {
	if r < NumRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

type nopObserver struct{}

func (nopObserver) Published(string, int)   {}
func (nopObserver) Relayed(string, int)     {}
func (nopObserver) Received(string, bool)   {}
func (nopObserver) Latency(time.Duration)   {}
func (nopObserver) Dropped(int, Drop)       {}
func (nopObserver) Refused(string, Refusal) {}

var _ Observer = nopObserver{}
