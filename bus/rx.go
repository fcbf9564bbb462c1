package bus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/herdhq/herd/bus/natswire"
	"github.com/herdhq/herd/bus/record"
)

// Link is the flood's own in-process connection to the node's NATS
// server, over which it receives herd.at.<self> (rx.go) speaking the NATS
// protocol itself: per message it scans the header bytes for the three
// flood headers and stores the records inline, where nats.go builds a
// message and a header map and hands them to a subscription goroutine.
// The wire is the same: the server delivers the same HMSG to it.
type Link struct {
	Conn net.Conn
	// Nkey and Sign answer the server's nonce (CONNECT's nkey and sig).
	Nkey string
	Sign func(nonce []byte) ([]byte, error)
}

// Errors of the link, in one block.
var (
	ErrLinkRefused = errors.New("nats server refused the flood link")
	ErrLinkProto   = errors.New("flood link protocol error")
)

// rxSID is the link's one subscription.
const rxSID = "1"

// Bounds of the link's read buffer: it starts at rxBufMin and grows to
// hold the largest message seen, up to rxBufMax (far above any max
// payload a herd sets).
const (
	rxBufMin = 64 << 10
	rxBufMax = 64 << 20
)

// Redial backoff after the server closed the link (a slow consumer, a
// stalled write): from rxRedialMin, doubling to rxRedialMax.
const (
	rxRedialMin = 10 * time.Millisecond
	rxRedialMax = 2 * time.Second
)

// floodKeys are the headers a flood message is read for, in the order of
// rxConn.vals.
var floodKeys = []string{HeaderOrigin, HeaderSender, HeaderStamp}

// rxConn is one link connection and its read buffer. Only the goroutine
// that reads it uses it.
type rxConn struct {
	conn net.Conn
	buf  []byte
	r, w int // buf[r:w] is read and not yet parsed
}

// next returns the next frame, reading as much as it needs. The frame
// aliases the buffer until the next call.
func (c *rxConn) next() (natswire.Frame, error) {
	for {
		if c.r < c.w {
			f, n, err := natswire.Parse(c.buf[c.r:c.w])
			if err == nil {
				c.r += n
				return f, nil
			}
			if !errors.Is(err, natswire.ErrShort) {
				return f, fmt.Errorf("%w: %w", ErrLinkProto, err)
			}
		}
		if c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.buf) {
			if len(c.buf) >= rxBufMax {
				return natswire.Frame{}, fmt.Errorf("%w: a frame longer than %d bytes", ErrLinkProto, rxBufMax)
			}
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		n, err := c.conn.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return natswire.Frame{}, err
		}
	}
}

// serverInfo is what the link reads of the server's INFO.
type serverInfo struct {
	Nonce   string `json:"nonce"`
	Headers bool   `json:"headers"`
}

// connectInfo is the link's CONNECT.
type connectInfo struct {
	Verbose  bool   `json:"verbose"`
	Pedantic bool   `json:"pedantic"`
	Nkey     string `json:"nkey,omitempty"`
	Sig      string `json:"sig,omitempty"`
	Name     string `json:"name"`
	Lang     string `json:"lang"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	Echo     bool   `json:"echo"`
	Headers  bool   `json:"headers"`
}

// dialLink opens the link, authenticates, subscribes to herd.at.<self>
// and returns once the server has the subscription (its PONG), or when
// ctx is done. Messages that arrive before the PONG are handled.
func (b *Bus) dialLink(ctx context.Context) (*rxConn, error) {
	l, err := b.cfg.Link()
	if err != nil {
		return nil, fmt.Errorf("dial flood link: %w", err)
	}
	c := &rxConn{conn: l.Conn, buf: make([]byte, rxBufMin)}
	stop := context.AfterFunc(ctx, func() { l.Conn.SetDeadline(time.Now()) })
	defer stop()
	if err := b.handshake(c, l); err != nil {
		l.Conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, err
	}
	if !stop() { // ctx ended as the handshake did: the deadline may be set
		l.Conn.Close()
		return nil, ctx.Err()
	}
	return c, nil
}

func (b *Bus) handshake(c *rxConn, l Link) error {
	f, err := c.next()
	if err != nil {
		return fmt.Errorf("read flood link INFO: %w", err)
	}
	if f.Kind != natswire.Info {
		return fmt.Errorf("%w: %s before INFO", ErrLinkProto, f.Kind)
	}
	var info serverInfo
	if err := json.Unmarshal(f.Arg, &info); err != nil {
		return fmt.Errorf("%w: INFO: %w", ErrLinkProto, err)
	}
	if !info.Headers {
		return fmt.Errorf("%w: the server does not support headers", ErrLinkProto)
	}
	ci := connectInfo{Nkey: l.Nkey, Name: b.cfg.Name + "-flood", Lang: "go", Version: "herd", Protocol: 1, Headers: true}
	if l.Sign != nil && info.Nonce != "" {
		sig, err := l.Sign([]byte(info.Nonce))
		if err != nil {
			return fmt.Errorf("sign nonce: %w", err)
		}
		ci.Sig = base64.RawURLEncoding.EncodeToString(sig)
	}
	js, err := json.Marshal(ci)
	if err != nil {
		return fmt.Errorf("encode CONNECT: %w", err)
	}
	hello := fmt.Appendf(nil, "CONNECT %s\r\nSUB %s %s\r\nPING\r\n", js, Subject(b.cfg.Name), rxSID)
	if _, err := c.conn.Write(hello); err != nil {
		return fmt.Errorf("write CONNECT: %w", err)
	}
	for {
		f, err := c.next()
		if err != nil {
			return fmt.Errorf("read flood link: %w", err)
		}
		if f.Kind == natswire.Pong {
			return nil
		}
		if err := b.handleFrame(c, f); err != nil {
			return err
		}
	}
}

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

// receiveFrame handles one flood message on herd.at.<self>: the raw
// counterpart of receive.
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
// counted as DropDisconnected, as for the node's nats.go connection, and
// the link is dialled again.
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

// redial dials the link again until it is up (returned, and registered
// for Close) or the bus closes (nil).
func (b *Bus) redial() *rxConn {
	wait := rxRedialMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		c, err := b.dialLink(b.ctx)
		if err == nil && b.setLink(c) {
			return c
		}
		if err == nil { // closed meanwhile
			c.conn.Close()
			return nil
		}
		if b.ctx.Err() != nil {
			return nil
		}
		b.refusals.LogKind(slog.LevelWarn, "flood link redial", "flood link: dial again failed", "err", err)
		wait = min(2*wait, rxRedialMax)
	}
}

// setLink makes c the link Close closes, unless the bus is closed.
func (b *Bus) setLink(c *rxConn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.link = c.conn
	return true
}
