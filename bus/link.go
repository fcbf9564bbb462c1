package bus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/herdhq/herd/bus/natswire"
)

// The link's lifecycle: dialled, authenticated and subscribed by Start,
// dialled again by rxLoop whenever the server closes it, closed by Close.

// Link is the flood's own in-process connection to the node's NATS
// server, over which it receives herd.at.<self> (rx.go) and publishes
// (tx.go) speaking the NATS protocol itself: per message it scans the
// header bytes for the three flood headers and stores the records inline,
// where a nats.go subscription would build a message and a header map and
// hand them to another goroutine. The wire is any NATS client's: an
// observer of herd.> sees every hop with its headers.
type Link struct {
	Conn net.Conn
	// Nkey and Sign answer the server's nonce (CONNECT's nkey and sig).
	Nkey string
	Sign func(nonce []byte) ([]byte, error)
}

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
