package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Kinds of command, in pending.
const (
	kindIAMAT uint8 = iota
	kindWHATSAT
)

// pending is one command sent and not yet answered.
type pending struct {
	sent   time.Duration // since the run's start
	tval   int64         // IAMAT client time, Unix ns
	client int32
	kind   uint8
}

// paceTick is the shortest pause of a rate-limited connection: it sends
// what is due at most once per tick, as a pipelining client that writes
// what it has gathered would, instead of one syscall per command.
const paceTick = time.Millisecond

// whatsatArgs are the radius (km) and limit of the mix's WHATSATs.
const whatsatArgs = " 10 5\n"

// pipeline keeps Window commands outstanding on one connection to
// Addrs[k mod len]: a writer sends whatever the window allows in one write,
// a reader matches replies to commands in order.
func (r *runner) pipeline(ctx context.Context, k int, st *workerStats) {
	addr := r.cfg.Addrs[k%len(r.cfg.Addrs)]
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		st.errors++
		r.fail(fmt.Errorf("dial: %w", err))
		return
	}
	defer nc.Close()

	window := r.cfg.Window
	slots := make(chan struct{}, window)
	for range window {
		slots <- struct{}{}
	}
	pend := make(chan pending, window)
	dead := make(chan struct{}) // closed by the reader when the connection failed
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r.readReplies(nc, pend, slots, dead, st)
	}()
	r.writeCommands(ctx, nc, k, slots, pend, dead)
	close(pend)
	<-readDone
}

// writeCommands sends commands until ctx ends, the Count is used up or the
// connection dies.
func (r *runner) writeCommands(ctx context.Context, nc net.Conn, k int, slots chan struct{}, pend chan<- pending, dead <-chan struct{}) {
	conns := r.cfg.Conns
	mine := (r.cfg.Clients - k + conns - 1) / conns // clients k, k+conns, ...
	rate := r.cfg.Rate / float64(conns)             // per connection; 0 = unlimited
	rng := uint64(k)*0x9E3779B97F4A7C15 + 1
	var clk clock
	var buf []byte
	next, sent, lastClient := 0, 0, -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-dead:
			return
		case <-slots:
		}
		n := 1
	more:
		for n < r.cfg.Window {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		taken := n
		if rate > 0 {
			// Send only what is due by now; sleep until the next one.
			for {
				due := int(time.Since(r.start).Seconds()*rate) + 1 - sent
				if due > 0 {
					n = min(n, due)
					break
				}
				wait := time.Duration(float64(sent)/rate*1e9) - time.Since(r.start)
				select {
				case <-ctx.Done():
					return
				case <-dead:
					return
				case <-time.After(max(wait, paceTick)):
				}
			}
		}
		got := r.reserve(n)
		// Hand back the slots taken but not used (past the rate or the
		// Count): each slot is one command the window allows.
		for range taken - got {
			slots <- struct{}{}
		}
		if got == 0 {
			return
		}
		now := time.Now()
		since := now.Sub(r.start)
		buf = buf[:0]
		for range got {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			p := pending{sent: since}
			if lastClient >= 0 && r.cfg.WhatsatFraction > 0 && float64(rng>>11)/(1<<53) < r.cfg.WhatsatFraction {
				p.kind, p.client = kindWHATSAT, int32(lastClient)
				buf = append(buf, "WHATSAT "...)
				buf = r.clientName(buf, lastClient)
				buf = append(buf, whatsatArgs...)
			} else {
				c := k + next*conns
				next = (next + 1) % mine
				p.kind, p.client, p.tval = kindIAMAT, int32(c), clk.next(now)
				buf = append(buf, "IAMAT "...)
				buf = r.clientName(buf, c)
				buf = append(buf, ' ')
				buf = appendLocation(buf, c)
				buf = append(buf, ' ')
				buf = appendTime(buf, p.tval)
				buf = append(buf, '\n')
				lastClient = c
			}
			pend <- p
		}
		sent += got
		nc.SetWriteDeadline(now.Add(r.cfg.ReplyTimeout))
		if _, err := nc.Write(buf); err != nil {
			return // the reader sees the failure too and counts it
		}
	}
}

// readReplies reads one reply per pending command, in order, and hands
// the window slot back.
func (r *runner) readReplies(nc net.Conn, pend <-chan pending, slots chan<- struct{}, dead chan<- struct{}, st *workerStats) {
	br := bufio.NewReaderSize(nc, 64<<10)
	failed := false
	var n int
	var scratch []byte
	for p := range pend {
		if failed {
			st.errors++
			continue
		}
		if n++; n%256 == 1 {
			nc.SetReadDeadline(time.Now().Add(r.cfg.ReplyTimeout))
		}
		ok, first, err := readReply(br, p.kind == kindWHATSAT, scratch)
		if p.kind == kindWHATSAT && ok {
			scratch = first[:0] // reuse the copy's array
		}
		if err != nil {
			st.errors++
			r.fail(fmt.Errorf("read reply: %w", err))
			failed = true
			close(dead)
			nc.Close() // unblocks the writer
			continue
		}
		lat := time.Since(r.start) - p.sent
		st.last = p.sent + lat
		r.completed.Add(1)
		if !ok {
			st.invalid++
		} else if p.kind == kindIAMAT {
			r.accepted[p.client] = p.tval
		}
		if p.kind == kindIAMAT {
			st.nIAMAT++
			st.iamat.Record(lat)
		} else {
			st.nWHATSAT++
			st.whatsat.Record(lat)
		}
		slots <- struct{}{}
	}
}

// errLongLine is a reply line longer than the read buffer: no node sends
// one, so the stream is not the protocol.
var errLongLine = errors.New("reply line too long")

// readReply reads one reply: a single line for IAMAT and for an invalid
// command, an AT line, JSON and a blank line for WHATSAT. ok says it was
// not a "?" reply; first is the reply's first line without LF, valid
// until the next read (for WHATSAT, a copy in scratch's array).
func readReply(br *bufio.Reader, whatsat bool, scratch []byte) (ok bool, first []byte, err error) {
	first, err = br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errLongLine
		}
		return false, nil, err
	}
	first = first[:len(first)-1]
	if !bytes.HasPrefix(first, []byte("AT ")) {
		return false, first, nil
	}
	if !whatsat {
		return true, first, nil
	}
	// The AT line's bytes would be overwritten by the reads below.
	first = append(scratch[:0], first...)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long JSON line: keep going to its end
		}
		if err != nil {
			return false, nil, err
		}
		if len(line) == 1 {
			return true, first, nil
		}
	}
}
