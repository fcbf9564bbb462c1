package bus

import (
	"errors"
	"net"
	"os"
	"time"
)

// Inline rounds. When the publisher is idle (nothing queued, no round
// being written, the previous round older than the window), the caller
// of Publish (the client connection's goroutine) or of Ingest (the link's
// reader, relaying what it just stored) encodes and writes the round
// itself, under pmu as publishLoop would: the record reaches the NATS
// server without waking publishLoop, one goroutine hand-off less per
// flood hop. A busy publisher queues as before, so coalescing and the
// adaptive window are unchanged.
//
// The caller must not block on the link: a client's IAMAT never waits on
// the flood, and the link's reader must not wait on a server that may be
// waiting for it to read. So an inline round takes pmu and wmu only if
// they are free, and writes with a deadline of inlineWriteMax; what the
// link has not taken by then (the carry) is left to publishLoop, which
// writes it before anything else, with wmu still held so that no PONG
// lands inside a frame.

// inlineWriteMax bounds an inline round's write on the link. An idle
// link takes a round in microseconds; past this, publishLoop finishes it.
const inlineWriteMax = 500 * time.Microsecond

// Kinds of rounds, by who wrote them (Bus.rounds).
const (
	roundInline = iota
	roundLoop
	numRoundKinds
)

// carry is an inline round the link had not taken whole by its deadline:
// the rest, b.tx[off:], is publishLoop's to write on conn.
type carry struct {
	conn    net.Conn // nil: no carry
	off     int
	stopped bool // publishLoop has stopped: no more inline rounds
}

// Rounds returns how many rounds (link writes of flood messages) were
// written inline by callers and by publishLoop.
func (b *Bus) Rounds() (inline, loop int64) {
	return b.rounds[roundInline].Load(), b.rounds[roundLoop].Load()
}

// publishInline writes outs as one round if the publisher is idle, and
// reports whether it did (false: queue them).
func (b *Bus) publishInline(outs []outbound) bool {
	if b.queued.Load() != 0 || !b.pmu.TryLock() {
		return false
	}
	defer b.pmu.Unlock()
	now := time.Now()
	// queued again under pmu: publishLoop lowers it only under pmu, once
	// the round with those records is written.
	if b.queued.Load() != 0 || b.carry.conn != nil || b.carry.stopped || now.Sub(b.last) < b.window {
		return false
	}
	b.mu.Lock()
	c := b.link
	b.mu.Unlock()
	if c == nil || !b.wmu.TryLock() {
		return false
	}
	records, messages := b.encodeRound(outs, b.groups)
	if messages == 0 { // no neighbor to send to
		b.wmu.Unlock()
		return true
	}
	b.last = now
	b.window = adapt(b.window, b.cfg.Linger, records, messages)
	b.rounds[roundInline].Add(1)
	c.SetWriteDeadline(now.Add(inlineWriteMax))
	n, err := c.Write(b.tx)
	if n < len(b.tx) && errors.Is(err, os.ErrDeadlineExceeded) {
		b.carry.conn, b.carry.off = c, n // wmu stays locked for publishLoop
		select {
		case b.kick <- struct{}{}:
		default:
		}
		return true
	}
	if n == len(b.tx) {
		err = nil
	}
	c.SetWriteDeadline(time.Time{})
	b.wmu.Unlock()
	b.countRound(err)
	return true
}

// finishCarry writes the rest of an inline round that the link had not
// taken by its deadline, counts the round, and releases wmu. Under pmu.
func (b *Bus) finishCarry() {
	c := b.carry.conn
	if c == nil {
		return
	}
	c.SetWriteDeadline(time.Time{})
	_, err := c.Write(b.tx[b.carry.off:])
	b.carry.conn, b.carry.off = nil, 0
	b.wmu.Unlock()
	b.countRound(err)
}

// stopRounds ends inline rounds when publishLoop stops: a carry left is
// dropped (the link is closing) and wmu released for the reader.
func (b *Bus) stopRounds() {
	b.pmu.Lock()
	defer b.pmu.Unlock()
	b.carry.stopped = true
	if b.carry.conn == nil {
		return
	}
	b.carry.conn, b.carry.off = nil, 0
	b.wmu.Unlock()
	b.countRound(ErrClosed)
}
