package embeddednats

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpProxy forwards a fixed local address to a target so a test can cut a
// route (close every connection and refuse new ones) and restore it on the
// same address, while both servers stay up.
type tcpProxy struct {
	addr string

	targetSet chan struct{} // closed once target is known
	target    string        // written once before targetSet is closed

	accepts atomic.Int64 // connections accepted: dials of the target
	// stallNext, when set, is how long the next connection holds what its
	// client sends before passing it on (the target's auth timer runs
	// meanwhile); the connections after it are not held.
	stallNext atomic.Int64

	// mu guards ln and conns.
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}

	wg sync.WaitGroup // accept loop and copy goroutines
}

// startProxy starts a proxy to target; with target empty, connections wait
// until setTarget.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{targetSet: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	if target != "" {
		p.setTarget(target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) setTarget(target string) {
	p.target = target
	close(p.targetSet)
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepts.Add(1)
			<-p.targetSet
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			stall := time.Duration(p.stallNext.Swap(0))
			p.wg.Go(func() {
				time.Sleep(stall) // the delay under test, not a wait for a condition
				p.pipe(up, c)
			})
			p.wg.Go(func() { p.pipe(c, up) })
		}
	})
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // cut while dialling
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes the listener (new dials are refused) and every connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

// restore listens again on the same address.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
