package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// oneShot is worker k of ModeOneShot: one connection per IAMAT, to the
// nodes in turn, each closed as cfg.Close says.
func (r *runner) oneShot(ctx context.Context, k int, st *workerStats) {
	conns := r.cfg.Conns
	mine := (r.cfg.Clients - k + conns - 1) / conns
	rate := r.cfg.Rate / float64(conns)
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	var clk clock
	line := make([]byte, 0, 128)
	reply := make([]byte, 4096)
	for i := 0; !ended(ctx); i++ {
		if rate > 0 {
			wait := time.Duration(float64(i)/rate*1e9) - time.Since(r.start)
			if wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		if r.reserve(1) == 0 {
			return
		}
		c := k + (i%mine)*conns
		addr := r.cfg.Addrs[(k+i)%len(r.cfg.Addrs)]
		now := time.Now()
		tval := clk.next(now)
		line = append(line[:0], "IAMAT "...)
		line = r.clientName(line, c)
		line = append(line, ' ')
		line = appendLocation(line, c)
		line = append(line, ' ')
		line = appendTime(line, tval)
		line = append(line, '\n')
		ok, err := r.oneRequest(ctx, &d, addr, line, reply)
		lat := time.Since(now)
		if err != nil {
			if ended(ctx) {
				return // the run ended during this request
			}
			st.errors++
			r.fail(err)
			continue
		}
		st.last = now.Sub(r.start) + lat
		r.completed.Add(1)
		st.nIAMAT++
		st.iamat.Record(lat)
		if !ok {
			st.invalid++
			continue
		}
		r.accepted[c] = tval
	}
}

// oneRequest dials addr, sends line and reads the one-line reply.
func (r *runner) oneRequest(ctx context.Context, d *net.Dialer, addr string, line, buf []byte) (ok bool, err error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	tc := nc.(*net.TCPConn)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(r.cfg.ReplyTimeout))
	if _, err := tc.Write(line); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	var n int
	switch r.cfg.Close {
	case CloseHalf:
		// The graders' way: EOF after the command, then everything the
		// node writes until it closes.
		if err := tc.CloseWrite(); err != nil {
			return false, fmt.Errorf("half-close: %w", err)
		}
		for n < len(buf) {
			m, err := tc.Read(buf[n:])
			n += m
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return false, fmt.Errorf("read: %w", err)
			}
		}
	case CloseReset:
		// Read the one reply line, then abort: the RST leaves no
		// TIME_WAIT behind on either side.
		br := bufio.NewReaderSize(tc, 512)
		l, err := br.ReadSlice('\n')
		if err != nil {
			return false, fmt.Errorf("read: %w", err)
		}
		n = copy(buf, l)
		tc.SetLinger(0)
	}
	return bytes.HasPrefix(buf[:n], []byte("AT ")) && bytes.Count(buf[:n], []byte("\n")) == 1, nil
}

// ended reports whether ctx is done or past its deadline. A context's
// deadline passes a little before its Err is set (a timer sets it), and a
// dial in that window fails at once with "i/o timeout": without this
// check a busy loop would count thousands of those as errors.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
