package antientropy

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Settled exchanges.
//
// While the herd is busy, every store holds records the flood has not yet
// delivered everywhere, so digests over all records always differ and a
// periodic exchange would swap whole buckets that the flood delivers
// anyway. A periodic exchange therefore compares settled records only
// (node/store: a record is settled once its origin time, the same on
// every node, is before the store's cursor), at one cutoff both nodes
// agree on: the requester's clock less SettleAge, rounded down to a
// whole second, sent in the Herd-Cutoff header of every request of the
// exchange. Exchanges at start and when a neighbor comes back (the
// repair after a cut) send no Herd-Cutoff and compare every record.

// HeaderCutoff carries a settled exchange's cutoff, Unix ns. A request
// without it compares every record (what nodes without settled exchanges
// send).
const HeaderCutoff = "Herd-Cutoff"

// cutoffStep rounds cutoffs down, so that two nodes whose exchanges start
// a few milliseconds apart pick the same one.
const cutoffStep = int64(time.Second)

// maxCutoffSkew is how far ahead of its own clock a node accepts a
// neighbor's cutoff (clocks of two hosts differ a little).
const maxCutoffSkew = 2 * time.Second

// scope is what one exchange compares: every record, or the settled ones
// at cutoff.
type scope struct {
	settled bool
	cutoff  int64
}

// cutoff is this node's settled cutoff now.
func (a *AntiEntropy) cutoff() int64 {
	c := a.cfg.Now().Add(-a.cfg.SettleAge).UnixNano()
	return c - c%cutoffStep
}

// acceptable reports whether a neighbor's cutoff is one this node may
// settle to: not further ahead of its own than the clocks may differ.
func (a *AntiEntropy) acceptable(cutoff int64) bool {
	return cutoff <= a.cutoff()+int64(maxCutoffSkew)
}

// periodicScope is the scope of a periodic exchange, with the store
// settled to its cutoff.
func (a *AntiEntropy) periodicScope() scope {
	if a.cfg.SettleAge <= 0 {
		return scope{}
	}
	sc := scope{settled: true, cutoff: a.cutoff()}
	a.store.Settle(sc.cutoff)
	return sc
}

// requestScope reads a request's scope; ok is false for a malformed
// Herd-Cutoff.
func requestScope(m *nats.Msg) (scope, bool) {
	v := m.Header.Get(HeaderCutoff)
	if v == "" {
		return scope{}, true
	}
	c, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return scope{}, false
	}
	return scope{settled: true, cutoff: c}, true
}

func (sc scope) header(h nats.Header) {
	if sc.settled {
		h.Set(HeaderCutoff, strconv.FormatInt(sc.cutoff, 10))
	}
}

// agrees reports whether this node's store is at sc's cutoff (always, for
// an exchange of every record).
func (a *AntiEntropy) agrees(sc scope) bool {
	return !sc.settled || a.store.SettleCursor() == sc.cutoff
}

func (a *AntiEntropy) groupSums(sc scope) [digest.Groups]uint64 {
	if sc.settled {
		return a.store.SettledGroupSums()
	}
	return a.store.GroupSums()
}

func (a *AntiEntropy) bucketSums(sc scope, g int) [digest.GroupSize]uint64 {
	if sc.settled {
		return a.store.SettledBucketSums(g)
	}
	return a.store.BucketSums(g)
}

func (a *AntiEntropy) appendBucket(sc scope, dst []record.Record, b int) []record.Record {
	if sc.settled {
		return a.store.AppendSettled(dst, b, sc.cutoff)
	}
	return a.store.AppendBucket(dst, b)
}

// exchangeRequests is the requests of one exchange (sync.go: the root,
// the bucket sums of the groups that differ, the records of the buckets
// that differ), each waiting up to Timeout for its reply, for
// RepairBound.
const exchangeRequests = 3

// RepairBound is the longest a record the flood lost between two
// neighbors that stay connected waits for a periodic exchange to repair
// it: until it is settled (SettleAge, and the cutoff's rounding to a
// second), then the next round with the neighbor (Interval with its
// Jitter), and that exchange's replies. A checker that waits less (herd
// bench --verify) can fail records that the herd was about to repair. 0
// when periodic rounds are off: only a neighbor coming back repairs.
func (c Config) RepairBound() time.Duration {
	if c.Interval <= 0 {
		return 0
	}
	round := time.Duration(float64(c.Interval) * (1 + c.Jitter))
	return c.SettleAge + time.Duration(cutoffStep) + round + exchangeRequests*c.Timeout
}
