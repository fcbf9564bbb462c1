package antientropy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// The requester's side of anti-entropy.

// Backoff of an exchange that failed (typically: the neighbor is down, or
// its route is up but its subscription not yet propagated).
const (
	syncRetryMin = 50 * time.Millisecond
	syncRetryMax = time.Second
)

// NeighborUp tells anti-entropy that the route to a neighbor came (back)
// up, or that it became a neighbor, so that it syncs with it now. Names
// that are not neighbors are ignored. It never blocks.
func (a *AntiEntropy) NeighborUp(name string) {
	if !a.flood.IsNeighbor(name) {
		return
	}
	a.kickMu.Lock()
	a.kicked[name] = true
	a.kickMu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (a *AntiEntropy) takeKicked() []string {
	a.kickMu.Lock()
	defer a.kickMu.Unlock()
	var names []string
	for n := range a.kicked {
		names = append(names, n)
	}
	clear(a.kicked)
	return names
}

// syncLoop runs the exchanges this node starts, one at a time.
func (a *AntiEntropy) syncLoop() {
	defer a.wg.Done()
	due := make(map[string]time.Time) // every neighbor is due at start
	retry := make(map[string]time.Duration)
	// full: the next exchange with the neighbor compares every record
	// (at start, and when it comes back), not the settled ones only.
	full := make(map[string]bool)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// Neighbors may change (bus.SetNeighbors): forget removed ones; a
		// new one is due at once.
		nbrs := a.flood.Neighbors()
		for n := range due {
			if !slices.Contains(nbrs, n) {
				delete(due, n)
				delete(retry, n)
				delete(full, n)
			}
		}
		for _, n := range nbrs {
			if _, ok := due[n]; !ok {
				due[n], full[n] = time.Now(), true
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
		case <-a.ctx.Done():
			return
		case <-a.kick:
			for _, n := range a.takeKicked() {
				due[n], retry[n], full[n] = time.Now(), 0, true
			}
			continue
		case <-timer.C:
		}
		for _, n := range nbrs {
			if time.Now().Before(due[n]) {
				continue
			}
			if a.ctx.Err() != nil {
				return
			}
			inSync, pulled, err := a.syncWith(a.ctx, n, full[n])
			// Repairs first: whoever sees the exchange counted sees
			// what it stored.
			a.repaired(n, pulled)
			a.cfg.Observe.Synced(n, inSync, err)
			if err != nil {
				retry[n] = min(max(2*retry[n], syncRetryMin), syncRetryMax)
				due[n] = time.Now().Add(min(retry[n], a.nextRound()))
				a.cfg.Logger.Debug("sync failed", "peer", n, "retry_in", retry[n], "err", err)
				continue
			}
			retry[n], full[n] = 0, false
			due[n] = time.Now().Add(a.nextRound())
		}
	}
}

// never is how far away "no periodic round" is.
const never = 100 * 365 * 24 * time.Hour

// nextRound is the jittered time to the next periodic exchange.
func (a *AntiEntropy) nextRound() time.Duration {
	if a.cfg.Interval <= 0 {
		return never
	}
	f := 1 + a.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(a.cfg.Interval) * f)
}

// syncWith runs one exchange with peer, of every record when full, else
// of the settled ones. It reports whether the stores were in sync at the
// root and how many records it stored from the peer.
func (a *AntiEntropy) syncWith(ctx context.Context, peer string, full bool) (inSync bool, pulled int, err error) {
	sc := scope{}
	if !full {
		sc = a.periodicScope()
	}
	var reply *nats.Msg
	mine := a.groupSums(sc)
	for retried := false; ; retried = true {
		reply, err = a.request(ctx, peer, opRoot, sc, appendHash(nil, digest.Root(&mine)))
		if err != nil {
			return false, 0, fmt.Errorf("sync root with %s: %w", peer, err)
		}
		op := reply.Header.Get(HeaderSync)
		if op != opCutoff {
			break
		}
		// The peer's cutoff is ahead of ours (its clock, or an exchange
		// with another neighbor, moved it): catch up once, if it is sane.
		theirs, perr := strconv.ParseInt(string(reply.Data), 10, 64)
		if retried || !sc.settled || perr != nil || theirs <= sc.cutoff || !a.acceptable(theirs) {
			return false, 0, fmt.Errorf("sync root with %s: cutoff %d, theirs %q: %w", peer, sc.cutoff, reply.Data, ErrCutoff)
		}
		sc.cutoff = theirs
		a.store.Settle(theirs)
		mine = a.groupSums(sc)
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
	if reply, err = a.request(ctx, peer, opBuckets, sc, appendInts(nil, groups)); err != nil {
		return false, 0, fmt.Errorf("sync buckets with %s: %w", peer, err)
	}
	switch op := reply.Header.Get(HeaderSync); op {
	case opBuckets:
	case opCutoff:
		return false, 0, fmt.Errorf("sync buckets with %s: its cutoff moved: %w", peer, ErrCutoff)
	default:
		return false, 0, fmt.Errorf("sync buckets with %s: reply %q: %w", peer, op, ErrSyncRefused)
	}
	var buckets []int
	for line := range bus.Lines(reply.Data) {
		var sums [digest.GroupSize]uint64
		g, err := parseGroupLine(line, &sums)
		if err != nil || !slices.Contains(groups, g) {
			return false, 0, fmt.Errorf("sync buckets with %s: %w", peer, errMalformed)
		}
		my := a.bucketSums(sc, g)
		for i := range sums {
			if sums[i] != my[i] {
				buckets = append(buckets, g*digest.GroupSize+i)
			}
		}
	}
	pulled, err = a.syncRecords(ctx, peer, sc, buckets)
	if err != nil {
		return false, pulled, fmt.Errorf("sync records with %s: %w", peer, err)
	}
	return false, pulled, nil
}

// request sends one sync request and waits Timeout for its reply.
func (a *AntiEntropy) request(ctx context.Context, peer, op string, sc scope, data []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	return a.conn.RequestMsgWithContext(ctx, a.msg(peer, op, sc, data))
}

func (a *AntiEntropy) msg(peer, op string, sc scope, data []byte) *nats.Msg {
	m := &nats.Msg{
		Subject: Subject(peer),
		Data:    data,
		Header:  nats.Header{bus.HeaderSender: []string{a.cfg.Name}, HeaderSync: []string{op}},
	}
	sc.header(m.Header)
	return m
}

// syncRecords swaps the records of buckets with peer, in requests of about
// MaxPayload bytes.
func (a *AntiEntropy) syncRecords(ctx context.Context, peer string, sc scope, buckets []int) (pulled int, err error) {
	limit := a.payloadLimit()
	var recs []record.Record
	for i := 0; i < len(buckets); {
		var ids []int
		var lines []byte
		for i < len(buckets) {
			recs = a.appendBucket(sc, recs[:0], buckets[i])
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
				// the store ignores.
				if len(lines)+len(r.Line)+1 > limit-6*len(ids) && len(lines) > 0 {
					break
				}
				lines = append(lines, r.Line...)
				lines = append(lines, '\n')
			}
			i++
		}
		payload := append(appendInts(nil, ids), '\n')
		n, err := a.exchangeRecords(ctx, peer, sc, append(payload, lines...))
		pulled += n
		if err != nil {
			return pulled, err
		}
	}
	return pulled, nil
}

// payloadLimit bounds one sync message: MaxPayload, but never more than
// the server accepts.
func (a *AntiEntropy) payloadLimit() int {
	limit := a.cfg.MaxPayload
	if mp := int(a.conn.MaxPayload()); mp > 0 && mp-4096 < limit {
		limit = max(mp-4096, MinMaxPayload)
	}
	return limit
}

// exchangeRecords sends one records request and stores the streamed reply
// through the flood's Ingest.
func (a *AntiEntropy) exchangeRecords(ctx context.Context, peer string, sc scope, payload []byte) (pulled int, err error) {
	inbox := a.conn.NewInbox()
	sub, err := a.conn.SubscribeSync(inbox)
	if err != nil {
		return 0, fmt.Errorf("subscribe reply inbox: %w", err)
	}
	defer sub.Unsubscribe()
	m := a.msg(peer, opRecords, sc, payload)
	m.Reply = inbox
	if err := a.conn.PublishMsg(m); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	// Sent: from here on the peer may store what it carries.
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
	}()
	for {
		mctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
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
			n, err := a.flood.Ingest(bus.FromRepair, peer, "", 0, reply.Data, nil)
			pulled += n
			if err != nil { // peer stopped being a neighbor
				return pulled, err
			}
		case opEnd:
			return pulled, nil
		case opCutoff:
			return pulled, fmt.Errorf("its cutoff moved: %w", ErrCutoff)
		default:
			return pulled, fmt.Errorf("reply %q: %w", op, ErrSyncRefused)
		}
	}
}
