package bus

import (
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// serveSync answers one anti-entropy request on herd.sync.<self>. It runs
// on the subscription's goroutine, one request at a time.
func (b *Bus) serveSync(m *nats.Msg) {
	peer := m.Header.Get(HeaderSender)
	op := m.Header.Get(HeaderSync)
	if m.Reply == "" {
		b.cfg.Observe.Invalid(peer)
		return
	}
	if !slices.Contains(b.neighbors(), peer) {
		b.cfg.Observe.Invalid(peer)
		b.syncWarn("sync request from a node that is not a neighbor", "sender", peer)
		b.reply(m, opRefused, nil)
		return
	}
	switch op {
	case opRoot:
		theirs, err := parseHash(m.Data)
		if err != nil {
			b.refuse(m, peer, op)
			return
		}
		mine := b.cfg.Store.GroupSums()
		if digest.Root(&mine) == theirs {
			b.reply(m, opEqual, nil)
			return
		}
		b.reply(m, opGroups, appendHashes(nil, mine[:]))
	case opBuckets:
		groups, err := parseInts(m.Data, digest.Groups)
		if err != nil {
			b.refuse(m, peer, op)
			return
		}
		out := make([]byte, 0, len(groups)*(4+digest.GroupSize*17))
		for i, g := range groups {
			if i > 0 {
				out = append(out, '\n')
			}
			sums := b.cfg.Store.BucketSums(g)
			out = appendGroupLine(out, g, &sums)
		}
		b.reply(m, opBuckets, out)
	case opRecords:
		b.serveRecords(m, peer)
	default:
		b.refuse(m, peer, op)
	}
}

// serveRecords stores the requester's newer records of the listed buckets
// (push) and streams back this node's records of those buckets that are
// newer than the requester's or that it lacks (pull).
func (b *Bus) serveRecords(m *nats.Msg, peer string) {
	first, rest := firstLine(m.Data)
	buckets, err := parseInts(first, digest.Buckets)
	if err != nil {
		b.refuse(m, peer, opRecords)
		return
	}
	asked := make(map[int]bool, len(buckets))
	for _, bk := range buckets {
		asked[bk] = true
	}
	theirs := make(map[string]record.Record)
	pushed := b.storeRepaired(peer, rest, func(r record.Record) {
		if !asked[digest.Bucket(r.Client())] {
			return // not one of the buckets it asked about: it cannot lack ours
		}
		if old, ok := theirs[r.Client()]; !ok || record.Newer(r, old) {
			theirs[r.Client()] = r
		}
	})
	if pushed > 0 {
		b.syncObs.Repaired(peer, pushed)
		b.cfg.Logger.Info("sync repaired records", "peer", peer, "records", pushed)
	}
	limit := b.payloadLimit()
	var chunk []byte
	var recs []record.Record
	for _, bk := range buckets {
		recs = b.cfg.Store.AppendBucket(recs[:0], bk)
		for _, r := range recs {
			if t, ok := theirs[r.Client()]; ok && !record.Newer(r, t) {
				continue
			}
			if len(chunk) > 0 && len(chunk)+1+len(r.Line) > limit {
				if !b.reply(m, opRecords, chunk) {
					return
				}
				chunk = nil // PublishMsg copied it, but keep it simple
			}
			if len(chunk) > 0 {
				chunk = append(chunk, '\n')
			}
			chunk = append(chunk, r.Line...)
		}
	}
	if len(chunk) > 0 && !b.reply(m, opRecords, chunk) {
		return
	}
	b.reply(m, opEnd, nil)
}

func (b *Bus) refuse(m *nats.Msg, peer, op string) {
	b.cfg.Observe.Invalid(peer)
	b.syncWarn("malformed sync request", "sender", peer, "op", op)
	b.reply(m, opRefused, nil)
}

// reply publishes one reply message and reports whether it was accepted.
func (b *Bus) reply(m *nats.Msg, op string, data []byte) bool {
	r := &nats.Msg{Subject: m.Reply, Data: data, Header: nats.Header{HeaderSync: []string{op}}}
	if err := b.cfg.Conn.PublishMsg(r); err != nil {
		b.syncWarn("sync reply failed", "op", op, "err", err)
		return false
	}
	return true
}
