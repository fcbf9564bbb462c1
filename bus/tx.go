package bus

import (
	"log/slog"
	"strconv"
)

// The publisher's side of the link (Config.Link): a round's flood
// messages are encoded as HPUB frames into one buffer, header bytes and
// all, and written to the link in one Write by publishLoop itself: no
// header encoded per message into a fresh buffer, no flusher goroutine
// woken per round.

// txPending is one message of the round being encoded: counted as
// published once the round is written, as dropped if it is not.
type txPending struct {
	to    string
	n     int
	relay bool
}

// appendFlood encodes one group as an HPUB to k.to into b.tx.
func (b *Bus) appendFlood(k groupKey, g *group) {
	const (
		pre  = "NATS/1.0\r\n" + HeaderOrigin + ": "
		mid  = "\r\n" + HeaderSender + ": "
		post = "\r\n\r\n"
	)
	b.stamp = strconv.AppendInt(b.stamp[:0], g.stamp, 10)
	hlen := len(pre) + len(k.origin) + len(mid) + len(b.cfg.Name) + len("\r\n"+HeaderStamp+": ") + len(b.stamp) + len(post)
	w := b.tx
	w = append(w, "HPUB "...)
	w = append(w, b.subjects.of(k.to)...)
	w = append(w, ' ')
	w = strconv.AppendInt(w, int64(hlen), 10)
	w = append(w, ' ')
	w = strconv.AppendInt(w, int64(hlen+len(g.payload)), 10)
	w = append(w, "\r\n"+pre...)
	w = append(w, k.origin...)
	w = append(w, mid...)
	w = append(w, b.cfg.Name...)
	w = append(w, "\r\n"+HeaderStamp+": "...)
	w = append(w, b.stamp...)
	w = append(w, post...)
	w = append(w, g.payload...)
	w = append(w, "\r\n"...)
	b.tx = w
	b.txPending = append(b.txPending, txPending{to: k.to, n: g.n, relay: k.origin != b.cfg.Name})
}

// flushLink writes the round encoded in b.tx to the link and counts its
// messages: published, or dropped when the link is down (rxLoop dials it
// again; anti-entropy repairs what is lost).
func (b *Bus) flushLink() {
	if len(b.txPending) == 0 {
		return
	}
	err := b.writeLink(b.tx)
	records := 0
	for _, p := range b.txPending {
		if err != nil {
			records += p.n
			continue
		}
		b.cfg.Observe.Published(p.to, p.n)
		if p.relay {
			b.cfg.Observe.Relayed(p.to, p.n)
		}
	}
	if err != nil {
		b.cfg.Observe.Dropped(records, DropPublishFailed)
		b.refusals.LogKind(slog.LevelWarn, "flood publish", "flood publish failed", "messages", len(b.txPending), "records", records, "err", err)
	}
	clear(b.txPending)
	b.txPending = b.txPending[:0]
	if cap(b.tx) > txBufKeep {
		b.tx = nil // one huge round does not pin its buffer
	} else {
		b.tx = b.tx[:0]
	}
}

// txBufKeep bounds the round buffer kept between rounds.
const txBufKeep = 1 << 20

// writeLink writes p to the current link, serialized with the reader's
// PONGs.
func (b *Bus) writeLink(p []byte) error {
	b.mu.Lock()
	c := b.link
	b.mu.Unlock()
	if c == nil {
		return ErrClosed
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	_, err := c.Write(p)
	return err
}
