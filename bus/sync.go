package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// Anti-entropy, the requester's side. A node syncs with each neighbor at
// start, when the neighbor comes back (NeighborUp), and every SyncInterval
// (± SyncJitter). One exchange walks the digest tree from the root down
// only where the two stores differ, then swaps the records of the buckets
// that differ: the requester sends its own (the peer stores what is newer:
// push) and the peer answers with its records that are newer (pull). While
// two stores are in sync an exchange is one request and one reply of a few
// dozen bytes, whatever the number of clients.
//
// Records stored by repair are relayed by the flood rules, with the peer
// as sender: after a partition heals, the records one side missed then
// reach the far end of the other side in one flood's time instead of one
// sync round per hop, and at most once per node (a relay happens only on
// a newer Put), so it costs what flooding those records would have cost.

// SyncObserver is told of anti-entropy events. An Observer that also
// implements it receives them. Methods must be quick and safe for
// concurrent use.
type SyncObserver interface {
	// Synced reports one exchange this node started with peer: whether
	// the two were already in sync, the records stored from the peer, and
	// the error that ended it early (nil when it completed).
	Synced(peer string, inSync bool, pulled int, err error)
	// Repaired counts records stored from a peer's sync request (push).
	Repaired(peer string, n int)
}

// ErrSyncRefused is returned when the peer refused an exchange or answered
// outside the protocol.
var ErrSyncRefused = errors.New("sync refused")

// Backoff of an exchange that failed (typically: the neighbor is down, or
// its route is up but its subscription not yet propagated).
const (
	syncRetryMin = 50 * time.Millisecond
	syncRetryMax = time.Second
)

// NeighborUp tells the bus that the route to a neighbor came (back) up, so
// that it syncs with it now. Names that are not neighbors are ignored. It
// never blocks.
func (b *Bus) NeighborUp(name string) {
	if !slices.Contains(b.neighbors(), name) {
		return
	}
	b.kickMu.Lock()
	b.kicked[name] = true
	b.kickMu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (b *Bus) takeKicked() []string {
	b.kickMu.Lock()
	defer b.kickMu.Unlock()
	var names []string
	for n := range b.kicked {
		names = append(names, n)
	}
	clear(b.kicked)
	return names
}

// syncLoop runs the exchanges this node starts, one at a time.
func (b *Bus) syncLoop() {
	defer b.wg.Done()
	due := make(map[string]time.Time) // every neighbor is due at start
	retry := make(map[string]time.Duration)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// Neighbors may change (SetNeighbors): forget removed ones; a new
		// one is due at once.
		nbrs := b.neighbors()
		for n := range due {
			if !slices.Contains(nbrs, n) {
				delete(due, n)
				delete(retry, n)
			}
		}
		for _, n := range nbrs {
			if _, ok := due[n]; !ok {
				due[n] = time.Now()
			}
		}
		next := time.Time{}
		for _, t := range due {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		if next.IsZero() {
			next = time.Now().Add(time.Hour) // no neighbors: wait for a kick
		}
		timer.Reset(time.Until(next))
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
			for _, n := range b.takeKicked() {
				due[n], retry[n] = time.Now(), 0
			}
			continue
		case <-timer.C:
		}
		for _, n := range nbrs {
			if time.Now().Before(due[n]) {
				continue
			}
			if b.ctx.Err() != nil {
				return
			}
			inSync, pulled, err := b.syncWith(b.ctx, n)
			b.syncObs.Synced(n, inSync, pulled, err)
			if err != nil {
				retry[n] = min(max(2*retry[n], syncRetryMin), syncRetryMax)
				due[n] = time.Now().Add(min(retry[n], b.nextRound()))
				b.cfg.Logger.Debug("sync failed", "peer", n, "retry_in", retry[n], "err", err)
				continue
			}
			retry[n] = 0
			due[n] = time.Now().Add(b.nextRound())
			if pulled > 0 {
				b.cfg.Logger.Info("sync repaired records", "peer", n, "records", pulled)
			}
		}
	}
}

// never is how far away "no periodic round" is.
const never = 100 * 365 * 24 * time.Hour

// nextRound is the jittered time to the next periodic exchange.
func (b *Bus) nextRound() time.Duration {
	if b.cfg.SyncInterval <= 0 {
		return never
	}
	f := 1 + b.cfg.SyncJitter*(2*rand.Float64()-1)
	return time.Duration(float64(b.cfg.SyncInterval) * f)
}

// syncWith runs one exchange with peer. It reports whether the stores were
// in sync at the root and how many records it stored from the peer.
func (b *Bus) syncWith(ctx context.Context, peer string) (inSync bool, pulled int, err error) {
	mine := b.cfg.Store.GroupSums()
	reply, err := b.request(ctx, peer, opRoot, appendHash(nil, digest.Root(&mine)))
	if err != nil {
		return false, 0, fmt.Errorf("sync root with %s: %w", peer, err)
	}
	switch op := reply.Header.Get(HeaderSync); op {
	case opEqual:
		return true, 0, nil
	case opGroups:
	default:
		return false, 0, fmt.Errorf("sync root with %s: reply %q: %w", peer, op, ErrSyncRefused)
	}
	var theirs [digest.Groups]uint64
	if err := parseHashes(reply.Data, theirs[:]); err != nil {
		return false, 0, fmt.Errorf("sync root with %s: %w", peer, err)
	}
	var groups []int
	for g := range mine {
		if mine[g] != theirs[g] {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return true, 0, nil
	}
	if reply, err = b.request(ctx, peer, opBuckets, appendInts(nil, groups)); err != nil {
		return false, 0, fmt.Errorf("sync buckets with %s: %w", peer, err)
	}
	if op := reply.Header.Get(HeaderSync); op != opBuckets {
		return false, 0, fmt.Errorf("sync buckets with %s: reply %q: %w", peer, op, ErrSyncRefused)
	}
	var buckets []int
	for line := range splitLines(reply.Data) {
		var sums [digest.GroupSize]uint64
		g, err := parseGroupLine(line, &sums)
		if err != nil || !slices.Contains(groups, g) {
			return false, 0, fmt.Errorf("sync buckets with %s: %w", peer, errMalformed)
		}
		my := b.cfg.Store.BucketSums(g)
		for i := range sums {
			if sums[i] != my[i] {
				buckets = append(buckets, g*digest.GroupSize+i)
			}
		}
	}
	pulled, err = b.syncRecords(ctx, peer, buckets)
	if err != nil {
		return false, pulled, fmt.Errorf("sync records with %s: %w", peer, err)
	}
	return false, pulled, nil
}

// request sends one sync request and waits SyncTimeout for its reply.
func (b *Bus) request(ctx context.Context, peer, op string, data []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.SyncTimeout)
	defer cancel()
	return b.cfg.Conn.RequestMsgWithContext(ctx, b.syncMsg(peer, op, data))
}

func (b *Bus) syncMsg(peer, op string, data []byte) *nats.Msg {
	return &nats.Msg{
		Subject: SyncSubject(peer),
		Data:    data,
		Header:  nats.Header{HeaderSender: []string{b.cfg.Name}, HeaderSync: []string{op}},
	}
}

// syncRecords swaps the records of buckets with peer, in requests of about
// MaxPayload bytes.
func (b *Bus) syncRecords(ctx context.Context, peer string, buckets []int) (pulled int, err error) {
	limit := b.payloadLimit()
	var recs []record.Record
	for i := 0; i < len(buckets); {
		var ids []int
		var lines []byte
		for i < len(buckets) {
			recs = b.cfg.Store.AppendBucket(recs[:0], buckets[i])
			size := 6 // the bucket's number in the first line
			for _, r := range recs {
				size += len(r.Line) + 1
			}
			if len(ids) > 0 && 6*len(ids)+len(lines)+size > limit {
				break
			}
			ids = append(ids, buckets[i])
			for _, r := range recs {
				// A bucket too large for one message is cut short: the
				// peer then sends back some records it need not, which
				// Put ignores.
				if len(lines)+len(r.Line)+1 > limit-6*len(ids) && len(lines) > 0 {
					break
				}
				lines = append(lines, r.Line...)
				lines = append(lines, '\n')
			}
			i++
		}
		payload := append(appendInts(nil, ids), '\n')
		n, err := b.exchangeRecords(ctx, peer, append(payload, lines...))
		pulled += n
		if err != nil {
			return pulled, err
		}
	}
	return pulled, nil
}

// payloadLimit bounds one sync message: MaxPayload, but never more than
// the server accepts.
func (b *Bus) payloadLimit() int {
	limit := b.cfg.MaxPayload
	if mp := int(b.cfg.Conn.MaxPayload()); mp > 0 && mp-4096 < limit {
		limit = max(mp-4096, 1024)
	}
	return limit
}

// exchangeRecords sends one records request and stores the streamed reply.
func (b *Bus) exchangeRecords(ctx context.Context, peer string, payload []byte) (pulled int, err error) {
	inbox := b.cfg.Conn.NewInbox()
	sub, err := b.cfg.Conn.SubscribeSync(inbox)
	if err != nil {
		return 0, fmt.Errorf("subscribe reply inbox: %w", err)
	}
	defer sub.Unsubscribe()
	m := b.syncMsg(peer, opRecords, payload)
	m.Reply = inbox
	if err := b.cfg.Conn.PublishMsg(m); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	for {
		mctx, cancel := context.WithTimeout(ctx, b.cfg.SyncTimeout)
		reply, err := sub.NextMsgWithContext(mctx)
		cancel()
		if err != nil {
			return pulled, err
		}
		if len(reply.Data) == 0 && reply.Header.Get("Status") == "503" {
			return pulled, nats.ErrNoResponders
		}
		switch op := reply.Header.Get(HeaderSync); op {
		case opRecords:
			pulled += b.storeRepaired(peer, reply.Data, nil)
		case opEnd:
			return pulled, nil
		default:
			return pulled, fmt.Errorf("reply %q: %w", op, ErrSyncRefused)
		}
	}
}

// storeRepaired stores the newer of the AT lines in data that peer sent by
// anti-entropy, relays them by the flood rules, and returns how many it
// stored. Each valid record is passed to seen, when set.
func (b *Bus) storeRepaired(peer string, data []byte, seen func(record.Record)) int {
	n := 0
	for line := range splitLines(data) {
		r, err := record.Parse(line)
		if err != nil {
			b.cfg.Observe.Invalid(peer)
			b.syncWarn("invalid sync record", "peer", peer, "err", err)
			continue
		}
		if seen != nil {
			seen(r)
		}
		if !b.cfg.Store.Put(r) {
			continue
		}
		n++
		b.enqueue(outbound{rec: r, origin: r.Origin(), sender: peer})
	}
	return n
}

// firstLine splits data at its first LF.
func firstLine(data []byte) (first, rest []byte) {
	first, rest, _ = bytes.Cut(data, []byte{'\n'})
	return first, rest
}
