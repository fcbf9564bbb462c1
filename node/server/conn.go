package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

func retryAfter() <-chan time.Time { return time.After(10 * time.Millisecond) }

// reply is one unit of output in command order: a batch of ready replies,
// or one WHATSAT whose reply is computed concurrently and ready when done
// is closed.
type reply struct {
	buf  []byte
	done chan struct{} // nil for a ready batch
}

// batchFlushBytes hands a batch to the writer once it grows this large even
// while more input is ready, so a long pipeline streams instead of piling
// up in memory.
const batchFlushBytes = 32 << 10

// conn serves one client connection with two goroutines: the read loop
// parses lines and runs commands in arrival order, the write loop writes
// replies in that same order and flushes whenever no further reply is ready.
type conn struct {
	s      *Server
	nc     net.Conn
	ctx    context.Context // cancelled when the connection ends or the server closes
	cancel context.CancelFunc
	out    chan *reply // replies in command order; closed by the read loop
	lookup sync.WaitGroup
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, nc: nc, ctx: ctx, cancel: cancel, out: make(chan *reply, s.cfg.MaxOutstanding)}
}

func (c *conn) serve() {
	log := c.s.cfg.Logger
	log.Debug("connection opened", "remote", c.nc.RemoteAddr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop()
	}()
	reason := c.readLoop()
	<-done
	c.lookup.Wait()
	c.cancel()
	c.nc.Close()
	log.Debug("connection closed", "remote", c.nc.RemoteAddr().String(), "reason", reason)
}

// readLoop reads lines until EOF, an error or the idle timeout, and closes
// c.out so that the write loop finishes the replies and ends. It returns why
// it stopped.
func (c *conn) readLoop() (reason string) {
	defer close(c.out)
	max := c.s.cfg.MaxLineBytes
	// Room for the longest allowed line plus CR LF: a line that does not
	// fit is too long, and memory stays bounded whatever the client sends.
	br := bufio.NewReaderSize(c.nc, max+2)
	var batch []byte
	for {
		if br.Buffered() == 0 {
			// About to block on the socket: hand over what is ready.
			if !c.send(&batch) {
				return "closed"
			}
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		}
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Too long: answer from its first bytes, drop the rest of it.
			batch = appendInvalid(batch, line[:max])
			if err = discardLine(br); err != nil {
				c.send(&batch)
				return readEnd(err)
			}
			continue
		case len(line) > 0:
			line = trimEOL(line)
			if len(line) > max {
				batch = appendInvalid(batch, line[:max])
			} else if wait := c.handle(&batch, line); wait != nil {
				if !c.send(&batch) || !c.push(wait) {
					return "closed"
				}
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

func readEnd(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "idle timeout"
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

// send hands a non-empty batch to the writer and starts a new one. It
// blocks while MaxOutstanding replies are queued (backpressure: the server
// stops reading a client that does not read its replies).
//
// The batch leaves in a recycled reply whose old buffer becomes the next
// batch, so a busy pipeline reuses the same few buffers and the IAMAT path
// allocates nothing but the stored record.
func (c *conn) send(batch *[]byte) bool {
	if len(*batch) == 0 {
		return true
	}
	r := c.s.batches.Get().(*reply)
	r.buf, *batch = *batch, r.buf[:0]
	return c.push(r)
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
	select {
	case c.out <- r:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// writeLoop writes replies in order. It flushes when no further reply is
// ready, so a pipelined batch costs one write. After a write error it keeps
// draining c.out so the read loop never blocks on it.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 16<<10)
	failed := false
	fail := func(err error) {
		failed = true
		c.s.cfg.Logger.Info("write failed, closing connection",
			"remote", c.nc.RemoteAddr().String(), "err", err)
		c.cancel()
		c.nc.Close() // unblocks the read loop
	}
	for r := range c.out {
		if r.done != nil {
			select {
			case <-r.done:
			case <-c.ctx.Done():
				failed = true
			}
		}
		if failed {
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		if _, err := bw.Write(r.buf); err != nil {
			fail(err)
			continue
		}
		c.recycle(r) // bw copied it
		if len(c.out) == 0 {
			if err := bw.Flush(); err != nil {
				fail(err)
			}
		}
	}
	if !failed {
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		if err := bw.Flush(); err != nil {
			fail(err)
		}
	}
}
