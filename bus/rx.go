package bus

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/herdhq/herd/bus/natswire"
	"github.com/herdhq/herd/bus/record"
)

// The link's reading side: rxLoop reads frames until Close, answers the
// server's PINGs, and ingests each flood message on its own goroutine.

// floodKeys are the headers a flood message is read for, in the order of
// receiveFrame's vals.
var floodKeys = []string{HeaderOrigin, HeaderSender, HeaderStamp}

// handleFrame handles one frame of the link: a flood message is ingested
// here, on the reading goroutine.
func (b *Bus) handleFrame(c *rxConn, f natswire.Frame) error {
	switch f.Kind {
	case natswire.Msg:
		b.receiveFrame(f)
	case natswire.Ping:
		b.wmu.Lock()
		_, err := c.conn.Write([]byte("PONG\r\n"))
		b.wmu.Unlock()
		if err != nil {
			return fmt.Errorf("write PONG: %w", err)
		}
		b.pongs.Add(1)
	case natswire.Err:
		return fmt.Errorf("%w: -ERR %s", ErrLinkRefused, f.Arg)
	}
	return nil // INFO (cluster updates), PONG, +OK
}

// receiveFrame handles one flood message on herd.at.<self>: its headers
// checked, its records ingested.
func (b *Bus) receiveFrame(f natswire.Frame) {
	var vals [3][]byte
	if err := natswire.ParseHeader(f.Header, floodKeys, vals[:]); f.Header != nil && err != nil {
		b.refuse(FromFlood, "", RefusedBadHeaders, "err", err)
		return
	}
	origin, sender := vals[0], vals[1]
	if !record.ValidName(origin) || !record.ValidName(sender) {
		b.refuse(FromFlood, string(sender), RefusedBadHeaders, "origin", string(origin))
		return
	}
	b.Ingest(FromFlood, b.name(sender), b.name(origin), parseStamp(vals[2]), f.Data, nil)
}

// maxNames bounds b.names: node names, and whatever valid names others
// put in headers.
const maxNames = 256

// name returns s as a string, interned: a message's origin and sender
// cost no allocation. Only the link's goroutine calls it.
func (b *Bus) name(s []byte) string {
	if n, ok := b.names[string(s)]; ok {
		return n
	}
	n := string(s)
	if len(b.names) >= maxNames {
		clear(b.names)
	}
	b.names[n] = n
	return n
}

// parseStamp is Herd-Stamp's Unix nanoseconds, 0 when it is not a
// positive decimal that fits.
func parseStamp(s []byte) int64 {
	if len(s) == 0 || len(s) > 19 {
		return 0
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0') // 19 digits cannot wrap a uint64
	}
	if n > math.MaxInt64 {
		return 0
	}
	return int64(n)
}

// rxLoop reads the link until Close. When the server closes it (it cuts a
// client that falls behind), what was in flight is lost: the episode is
// counted as DropDisconnected and the link is dialled again.
func (b *Bus) rxLoop(c *rxConn) {
	defer b.wg.Done()
	for {
		err := b.serveLink(c)
		c.conn.Close()
		if b.ctx.Err() != nil {
			return
		}
		b.cfg.Observe.Dropped(1, DropDisconnected)
		b.refusals.LogKind(slog.LevelWarn, "flood link lost", "flood link to the nats server lost: messages in flight lost", "err", err)
		if c = b.redial(); c == nil {
			return
		}
	}
}

// serveLink handles frames until the link fails.
func (b *Bus) serveLink(c *rxConn) error {
	for {
		f, err := c.next()
		if err != nil {
			return err
		}
		if err := b.handleFrame(c, f); err != nil {
			return err
		}
	}
}
