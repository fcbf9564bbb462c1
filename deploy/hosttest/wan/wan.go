// Package wan is a wide-area network in user space, for tests: a TCP relay
// that delivers every byte a fixed delay after it arrived, in each
// direction, counts the bytes it carries, and can cut the links of a
// region (the kernel of the test machines has no netem qdisc). A test
// points the addresses one region dials for another region's hosts at the
// relay's listeners (e.g. through per-host /etc/hosts), so that traffic
// between regions crosses the relay and traffic inside a region does not.
package wan

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// chunkBytes is the most one read takes from a connection; queueChunks
// bounds the chunks in flight per direction (back-pressure on the sender,
// as a real link's window would).
const (
	chunkBytes  = 32 << 10
	queueChunks = 1024
)

// ErrClosed is returned by Forward once the relay is closed.
var ErrClosed = errors.New("wan relay closed")

// Relay carries TCP connections between regions with a delay.
type Relay struct {
	delay    time.Duration
	regionOf func(net.Addr) string // the region of a dialling address

	bytes atomic.Int64 // carried, both directions, delivered

	mu     sync.Mutex // guards cut, links, lns, closed
	cut    map[string]bool
	links  map[*link]struct{}
	lns    []net.Listener
	closed bool
	wg     sync.WaitGroup // accept loops and links
}

// link is one relayed connection pair.
type link struct {
	from, to string // regions
	a, b     net.Conn
}

// New returns a relay that delays each direction by delay; regionOf tells
// the region of a connection's source from its remote address.
func New(delay time.Duration, regionOf func(net.Addr) string) *Relay {
	return &Relay{delay: delay, regionOf: regionOf, cut: map[string]bool{}, links: map[*link]struct{}{}}
}

// Forward relays every connection accepted on ln to dial's connection,
// which reaches a host of region to. It returns at once; Close stops it
// and closes ln.
func (r *Relay) Forward(ln net.Listener, to string, dial func(ctx context.Context) (net.Conn, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		ln.Close()
		return ErrClosed
	}
	r.lns = append(r.lns, ln)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.relay(c, to, dial)
			}()
		}
	}()
	return nil
}

// relay carries one accepted connection to its destination until either
// side closes, the link is cut or the relay closed.
func (r *Relay) relay(a net.Conn, to string, dial func(ctx context.Context) (net.Conn, error)) {
	from := r.regionOf(a.RemoteAddr())
	if r.isCut(from, to) {
		a.Close() // a cut link: the dialler sees its connection dropped
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b, err := dial(ctx)
	cancel()
	if err != nil {
		a.Close()
		return
	}
	l := &link{from: from, to: to, a: a, b: b}
	if !r.track(l) {
		a.Close()
		b.Close()
		return
	}
	defer r.untrack(l)
	var done sync.WaitGroup
	done.Add(2)
	go func() { defer done.Done(); r.pipe(b, a) }()
	go func() { defer done.Done(); r.pipe(a, b) }()
	done.Wait()
	a.Close()
	b.Close()
}

type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// pipe copies src to dst, each chunk written delay after it was read.
// On EOF it half-closes dst after the last chunk; on any error it closes
// both, as a broken link would.
func (r *Relay) pipe(dst, src net.Conn) {
	q := make(chan chunk, queueChunks)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, chunkBytes)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{data: buf[:n], due: time.Now().Add(r.delay)}
			}
			if err != nil {
				q <- chunk{eof: errors.Is(err, io.EOF), due: time.Now().Add(r.delay)}
				return
			}
		}
	}()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if c.data == nil {
			if tc, ok := dst.(interface{ CloseWrite() error }); ok && c.eof {
				tc.CloseWrite()
			} else {
				dst.Close()
				src.Close()
			}
			continue // drain until the reader ends
		}
		n, err := dst.Write(c.data)
		r.bytes.Add(int64(n))
		if err != nil {
			dst.Close()
			src.Close()
		}
	}
}

func (r *Relay) isCut(from, to string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut[from] || r.cut[to]
}

func (r *Relay) track(l *link) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.cut[l.from] || r.cut[l.to] {
		return false
	}
	r.links[l] = struct{}{}
	return true
}

func (r *Relay) untrack(l *link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.links, l)
}

// Cut severs every link to or from region: its relayed connections are
// closed and new ones dropped until Heal.
func (r *Relay) Cut(region string) {
	r.mu.Lock()
	r.cut[region] = true
	var drop []*link
	for l := range r.links {
		if l.from == region || l.to == region {
			drop = append(drop, l)
		}
	}
	r.mu.Unlock()
	for _, l := range drop {
		l.a.Close()
		l.b.Close()
	}
}

// Heal undoes Cut.
func (r *Relay) Heal(region string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cut, region)
}

// Bytes is how many bytes the relay has delivered so far, both directions
// of every link.
func (r *Relay) Bytes() int64 { return r.bytes.Load() }

// Links is the number of connections being relayed now.
func (r *Relay) Links() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.links)
}

// Close stops accepting, closes every link and waits for them.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	lns := r.lns
	var links []*link
	for l := range r.links {
		links = append(links, l)
	}
	r.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, l := range links {
		l.a.Close()
		l.b.Close()
	}
	r.wg.Wait()
}
