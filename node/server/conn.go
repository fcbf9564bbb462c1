package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/herdhq/herd/node/core"
)

func retryAfter() <-chan time.Time { return time.After(10 * time.Millisecond) }

// reply is one unit of output in command order: a batch of ready replies,
// or one WHATSAT whose reply is computed concurrently and ready when done
// is closed.
type reply struct {
	buf  []byte
	done chan struct{} // nil for a ready batch
	// durable is the ticket of the batch's last stored IAMAT (nil: none):
	// the batch is written only once it is as durable as the node
	// promises (fsync always: on disk). Tickets are decided in order, so
	// the last covers the batch.
	durable core.Ticket
}

// batchFlushBytes hands a batch to the writer once it grows this large even
// while more input is ready, so a long pipeline streams instead of piling
// up in memory.
const batchFlushBytes = 32 << 10

// writeBufBytes is the write loop's buffer, taken from a pool only while
// replies are being written.
const writeBufBytes = 16 << 10

// conn serves one client connection with two goroutines: the read loop
// parses lines and runs commands in arrival order, the write loop writes
// replies in that same order and flushes whenever no further reply is ready.
// A small batch with nothing ahead of it the read loop writes itself (send).
//
// An idle connection is kept cheap, since thousands may be open: until its
// first byte arrives it has no read buffer, the write loop starts with the
// first reply, and the write buffer goes back to the server's pool after
// every flush.
type conn struct {
	s      *Server
	nc     net.Conn
	ctx    context.Context // cancelled when the connection ends or the server closes
	cancel context.CancelFunc
	q      *replyQueue // replies in command order; closed by the read loop
	lookup sync.WaitGroup

	// debug is whether the logger records client input and output, asked
	// once per connection so that at info level the hot path pays one
	// branch per line; remote is the peer's address, built only then.
	debug  bool
	remote string

	// Owned by the read loop.
	writer chan struct{} // closed when the write loop ends; nil until it starts
	paused bool          // the outstanding limit paused reading (logged once)
	first  primedReader  // hands the first byte to the pooled reader
	ticket core.Ticket   // of the last IAMAT stored into the batch being built
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, nc: nc, ctx: ctx, cancel: cancel, q: newReplyQueue(s.cfg.MaxOutstanding)}
}

func (c *conn) serve() {
	log := c.s.cfg.Logger
	c.s.cfg.Observe.Connection(true)
	defer c.s.cfg.Observe.Connection(false)
	if c.debug = log.Enabled(c.ctx, slog.LevelDebug); c.debug {
		c.remote = c.nc.RemoteAddr().String()
		log.LogAttrs(c.ctx, slog.LevelDebug, "connection opened", slog.String("remote", c.remote))
	}
	reason := c.readLoop()
	if c.writer != nil {
		<-c.writer
	}
	c.lookup.Wait()
	c.cancel()
	c.nc.Close()
	if reason == reasonIdle {
		c.s.limits.Log(slog.LevelInfo, "connection closed: idle timeout",
			"remote", c.nc.RemoteAddr().String(), "idle_timeout", c.s.cfg.IdleTimeout)
		return
	}
	if c.debug {
		log.LogAttrs(context.Background(), slog.LevelDebug, "connection closed",
			slog.String("remote", c.remote), slog.String("reason", reason))
	}
}

const reasonIdle = "idle timeout"

// logInput and logOutput record client traffic at debug level, what the
// classic herd wrote to its log file. Callers check c.debug first.
func (c *conn) logInput(line []byte) {
	c.s.cfg.Logger.LogAttrs(c.ctx, slog.LevelDebug, "input",
		slog.String("remote", c.remote), slog.String("line", string(line)))
}

func (c *conn) logOutput(out []byte) {
	if len(out) == 0 {
		return
	}
	c.s.cfg.Logger.LogAttrs(context.Background(), slog.LevelDebug, "output",
		slog.String("remote", c.remote), slog.String("text", string(bytes.TrimSuffix(out, []byte("\n")))))
}

// primedReader yields one byte already read, then reads from r.
type primedReader struct {
	b   byte
	has bool
	r   io.Reader
}

func (p *primedReader) Read(buf []byte) (int, error) {
	if p.has && len(buf) > 0 {
		buf[0], p.has = p.b, false
		return 1, nil
	}
	return p.r.Read(buf)
}

// readLoop reads lines until EOF, an error or the idle timeout, and closes
// c.q so that the write loop finishes the replies and ends. It returns why
// it stopped.
func (c *conn) readLoop() (reason string) {
	defer c.q.close()
	max := c.s.cfg.MaxLineBytes
	// Wait for the first byte without a buffer: a connection that never
	// sends anything costs no more than its goroutine.
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	var one [1]byte
	if n, err := c.nc.Read(one[:]); n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return readEnd(err)
	}
	c.first = primedReader{b: one[0], has: true, r: c.nc}
	// Room for the longest allowed line plus CR LF: a line that does not
	// fit is too long, and memory stays bounded whatever the client sends.
	br := c.s.readers.Get().(*bufio.Reader)
	br.Reset(&c.first)
	defer func() {
		br.Reset(nil)
		c.s.readers.Put(br)
	}()
	var batch []byte
	for {
		if !lineBuffered(br) {
			// About to read the socket, which may block: hand over what
			// is ready, and restart the idle clock. (Checking only for an
			// empty buffer would hold replies back behind a partial line,
			// and let a client that streams for longer than IdleTimeout
			// time out when no read happens to end on a line boundary.)
			if !c.send(&batch) {
				return "closed"
			}
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		}
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Too long: answer from its first bytes, drop the rest of it.
			c.tooLong()
			start := len(batch)
			batch = appendInvalid(batch, line[:max])
			if c.debug {
				c.logInput(line[:max])
				c.logOutput(batch[start:])
			}
			if err = discardLine(br); err != nil {
				c.send(&batch)
				return readEnd(err)
			}
			continue
		case len(line) > 0:
			line = trimEOL(line)
			start := len(batch)
			if c.debug {
				c.logInput(line)
			}
			var wait *reply // a WHATSAT's pending reply
			if len(line) > max {
				c.tooLong()
				batch = appendInvalid(batch, line[:max])
			} else {
				wait = c.handle(&batch, line)
			}
			if c.debug && wait == nil {
				c.logOutput(batch[start:])
			}
			if wait != nil && (!c.send(&batch) || !c.push(wait)) {
				return "closed"
			}
		}
		if err != nil {
			c.send(&batch)
			return readEnd(err)
		}
		if len(batch) >= batchFlushBytes && !c.send(&batch) {
			return "closed"
		}
	}
}

// lineBuffered reports whether br holds a whole line, which ReadSlice
// returns without reading the socket.
func lineBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// tooLong counts and logs (rate-limited) a line over the limit.
func (c *conn) tooLong() {
	c.s.core.Invalid()
	c.s.limits.Log(slog.LevelInfo, "line too long: answered ? and discarded the rest",
		"remote", c.nc.RemoteAddr().String(), "max_line_bytes", c.s.cfg.MaxLineBytes)
}

func readEnd(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return reasonIdle
	}
	return err.Error()
}

// discardLine drops input up to and including the next LF.
func discardLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// trimEOL removes the LF and a CR before it.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// send writes a non-empty batch, or hands it to the writer, and starts a
// new one.
//
// A small batch when the write side is idle — every reply at a paced
// rate, one or two lines per read — the read loop writes itself
// (writeDirect): handing it over costs a goroutine wake-up per reply,
// which at 10,000 replies/s was a fifth of the client port's CPU
// (BENCHMARKS.md, "Engine, round 3", port). A large batch — a client
// pipelining faster than the node answers — still goes to the write loop,
// so that reading and storing the next batch overlap with writing this one.
//
// The batch leaves in a recycled reply whose old buffer becomes the next
// batch, so a busy pipeline reuses the same few buffers and the IAMAT path
// allocates nothing but the stored record. It blocks while MaxOutstanding
// replies are queued (backpressure: the server stops reading a client that
// does not read its replies).
func (c *conn) send(batch *[]byte) bool {
	if len(*batch) == 0 {
		return true
	}
	if c.ticket == nil && len(*batch) <= directWriteMax && c.q.idle() {
		return c.writeDirect(batch)
	}
	r := c.s.batches.Get().(*reply)
	r.buf, *batch = *batch, r.buf[:0]
	r.durable, c.ticket = c.ticket, nil
	return c.push(r)
}

// directWriteMax is the largest batch the read loop writes itself: a
// dozen IAMAT replies. Saturating clients send larger batches (a window of
// 64 lines per read), which keep the write loop.
const directWriteMax = 1 << 10

// directWriteWait is how long the read loop waits for the socket to take
// a batch it writes itself before it hands the rest to the write loop
// (a client that does not read its replies) and goes back to reading.
const directWriteWait = time.Millisecond

// writeDirect writes a batch from the read loop; the write side is idle
// and only the read loop hands it replies, so nothing is overtaken.
func (c *conn) writeDirect(batch *[]byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(directWriteWait))
	n, err := c.nc.Write(*batch)
	switch {
	case err == nil:
		*batch = (*batch)[:0]
		return true
	case !errors.Is(err, os.ErrDeadlineExceeded):
		c.writeFailed(err)
		return false
	}
	// The socket is full: the rest waits in the write loop, as long as
	// WriteTimeout, while reading goes on up to MaxOutstanding.
	*batch = (*batch)[:copy(*batch, (*batch)[n:])]
	r := c.s.batches.Get().(*reply)
	r.buf, *batch = *batch, r.buf[:0]
	return c.push(r)
}

// writeFailed logs why a write failed and ends the connection.
func (c *conn) writeFailed(err error) {
	c.s.limits.Log(slog.LevelInfo, "write failed or timed out: closing connection",
		"remote", c.nc.RemoteAddr().String(), "write_timeout", c.s.cfg.WriteTimeout, "err", err)
	c.cancel()
	c.nc.Close() // unblocks the read loop
}

// maxRecycledBatch keeps buffers that grew past a normal batch (a long
// pipeline of WHATSAT-sized lines, say) out of the pool.
const maxRecycledBatch = 2 * batchFlushBytes

// recycle returns a written batch to the server's pool. The pool, unlike
// a per-connection free list, holds nothing for idle connections.
func (c *conn) recycle(r *reply) {
	if r.done != nil || cap(r.buf) > maxRecycledBatch {
		return // WHATSAT replies are built per command
	}
	r.buf = r.buf[:0]
	c.s.batches.Put(r)
}

func (c *conn) push(r *reply) bool {
	if c.writer == nil {
		c.writer = make(chan struct{})
		go func() {
			defer close(c.writer)
			c.writeLoop()
		}()
	}
	ok, full := c.q.push(c.ctx, r)
	if full {
		// The pause was the server's, not the client's silence: restart
		// the idle clock for a partial line still to be read.
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	}
	if full && !c.paused {
		c.paused = true
		c.s.limits.Log(slog.LevelInfo, "client at its outstanding replies limit: reading paused until it reads",
			"remote", c.nc.RemoteAddr().String(), "max_outstanding", c.s.cfg.MaxOutstanding)
	}
	return ok
}

// writeLoop writes replies in order. It flushes when no further reply is
// ready, so a pipelined batch costs one write. After a write error it keeps
// draining the queue so the read loop never blocks on it.
func (c *conn) writeLoop() {
	var bw *bufio.Writer
	release := func() {
		if bw != nil {
			bw.Reset(nil)
			c.s.writers.Put(bw)
			bw = nil
		}
	}
	defer release()
	failed := false
	fail := func(err error) {
		failed = true
		c.writeFailed(err)
	}
	unflushed := 0 // popped replies not yet flushed to the socket
	for {
		if unflushed > 0 && (failed || bw == nil) {
			c.q.written(unflushed)
			unflushed = 0
		}
		r, ok := c.q.pop()
		if !ok {
			return
		}
		unflushed++
		if r.done != nil {
			select {
			case <-r.done:
			case <-c.ctx.Done():
				failed = true
			}
		}
		if r.durable != nil {
			// Here, not in the read loop: the read loop goes on parsing
			// and storing while this batch's records are fsynced, and
			// their tickets share the fsync (group commit). A record the
			// disk refused is answered anyway: the node serves from
			// memory, and its health says degraded.
			if r.durable.Wait(c.ctx) != nil && c.ctx.Err() != nil {
				failed = true
			}
			r.durable = nil
		}
		if failed {
			continue
		}
		if bw == nil {
			bw = c.s.writers.Get().(*bufio.Writer)
			bw.Reset(c.nc)
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		if _, err := bw.Write(r.buf); err != nil {
			fail(err)
			continue
		}
		c.recycle(r) // written: bw copied it or sent it
		if c.q.len() == 0 {
			if err := bw.Flush(); err != nil {
				fail(err)
				continue
			}
			release()
		}
	}
}
