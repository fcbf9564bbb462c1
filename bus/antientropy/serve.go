package antientropy

import (
	"bytes"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// serve answers one anti-entropy request on herd.sync.<self>. It runs on
// the subscription's goroutine, one request at a time.
func (a *AntiEntropy) serve(m *nats.Msg) {
	peer := m.Header.Get(bus.HeaderSender)
	op := m.Header.Get(HeaderSync)
	if m.Reply == "" {
		a.refuse(peer, bus.RefusedBadRequest, "op", op, "err", "no reply subject")
		return
	}
	if !a.flood.IsNeighbor(peer) {
		a.refuse(peer, bus.RefusedNotNeighbor, "op", op)
		a.reply(m, opRefused, nil)
		return
	}
	sc, ok := requestScope(m)
	if !ok {
		a.refuseMalformed(m, peer, op)
		return
	}
	if sc.settled && op == opRoot && sc.cutoff > a.store.SettleCursor() && a.acceptable(sc.cutoff) {
		a.store.Settle(sc.cutoff) // the requester's clock is a little ahead
	}
	if !a.agrees(sc) {
		// Not at the requester's cutoff (cursors never move back): say
		// where this node is, so that the requester can catch up.
		a.reply(m, opCutoff, strconv.AppendInt(nil, a.store.SettleCursor(), 10))
		return
	}
	switch op {
	case opRoot:
		theirs, err := parseHash(m.Data)
		if err != nil {
			a.refuseMalformed(m, peer, op)
			return
		}
		mine := a.groupSums(sc)
		if digest.Root(&mine) == theirs {
			a.reply(m, opEqual, nil)
			return
		}
		a.reply(m, opGroups, appendHashes(nil, mine[:]))
	case opBuckets:
		groups, err := parseInts(m.Data, digest.Groups)
		if err != nil {
			a.refuseMalformed(m, peer, op)
			return
		}
		out := make([]byte, 0, len(groups)*(4+digest.GroupSize*17))
		for i, g := range groups {
			if i > 0 {
				out = append(out, '\n')
			}
			sums := a.bucketSums(sc, g)
			out = appendGroupLine(out, g, &sums)
		}
		a.reply(m, opBuckets, out)
	case opRecords:
		a.serveRecords(m, peer, sc)
	default:
		a.refuseMalformed(m, peer, op)
	}
}

// serveRecords stores the requester's newer records of the listed buckets
// (push) and streams back this node's records of those buckets that are
// newer than the requester's or that it lacks (pull).
func (a *AntiEntropy) serveRecords(m *nats.Msg, peer string, sc scope) {
	first, rest, _ := bytes.Cut(m.Data, []byte{'\n'})
	buckets, err := parseInts(first, digest.Buckets)
	if err != nil {
		a.refuseMalformed(m, peer, opRecords)
		return
	}
	asked := make(map[int]bool, len(buckets))
	for _, bk := range buckets {
		asked[bk] = true
	}
	// theirs aliases m.Data, which outlives this handler's use of it.
	theirs := make(map[string]record.Record)
	pushed, err := a.flood.Ingest(bus.FromRepair, peer, "", 0, rest, func(r record.Record) {
		if !asked[digest.Bucket(r.Client())] {
			return // not one of the buckets it asked about: it cannot lack ours
		}
		if old, ok := theirs[r.Client()]; !ok || record.Newer(r, old) {
			theirs[r.Client()] = r
		}
	})
	if err != nil { // it stopped being a neighbor meanwhile
		a.reply(m, opRefused, nil)
		return
	}
	a.repaired(peer, pushed)
	limit := a.payloadLimit()
	var chunk []byte
	var recs []record.Record
	for _, bk := range buckets {
		recs = a.appendBucket(sc, recs[:0], bk)
		for _, r := range recs {
			if t, ok := theirs[r.Client()]; ok && !record.Newer(r, t) {
				continue
			}
			if len(chunk) > 0 && len(chunk)+1+len(r.Line) > limit {
				if !a.reply(m, opRecords, chunk) {
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
	if len(chunk) > 0 && !a.reply(m, opRecords, chunk) {
		return
	}
	a.reply(m, opEnd, nil)
}

func (a *AntiEntropy) refuseMalformed(m *nats.Msg, peer, op string) {
	a.refuse(peer, bus.RefusedBadRequest, "op", op)
	a.reply(m, opRefused, nil)
}

// reply publishes one reply message and reports whether it was accepted.
func (a *AntiEntropy) reply(m *nats.Msg, op string, data []byte) bool {
	r := &nats.Msg{Subject: m.Reply, Data: data, Header: nats.Header{HeaderSync: []string{op}}}
	if err := a.conn.PublishMsg(r); err != nil {
		a.refusals.LogKind(slog.LevelWarn, "reply failed", "sync reply failed", "op", op, "err", err)
		return false
	}
	return true
}
