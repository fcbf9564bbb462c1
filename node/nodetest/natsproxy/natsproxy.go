// Package natsproxy is a TCP proxy in front of a real NATS server that
// interrupts the first client's handshake the way a busy or reloading
// nats-server does, for the tests of every dialler that must survive it
// (embeddednats.Dial and its users). It imports nothing of the herd.
package natsproxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Interrupt is what the proxy does to the first connection once the
// client has sent its CONNECT; the connection is closed after it.
type Interrupt func(client net.Conn)

var (
	// Closed closes the connection: nats-server closes a connecting
	// client of another account ($SYS) whose options it reloads meanwhile
	// (every chaos cut and heal reloads them); nats.go sees io.EOF.
	Closed Interrupt = func(net.Conn) {}
	// Pinged sends the server's first PING before the handshake's PONG:
	// nats-server sends it 2 s after the accept, and a CONNECT that took
	// longer (a starved machine) gets it first; nats.go refuses that
	// ("expected 'PONG', got 'PING'").
	Pinged Interrupt = func(c net.Conn) { io.WriteString(c, "PING\r\n") }
)

// Proxy relays connections to a NATS server; the handshakes of the first
// ones it interrupts.
type Proxy struct {
	upstream  string
	interrupt Interrupt
	times     int64 // how many connections, from the first, are interrupted
	ln        net.Listener
	accepts   atomic.Int64
	wg        sync.WaitGroup // the accept loop and each relay

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// Start listens on a loopback port in front of upstream (host:port),
// interrupts the handshake of the first times connections and relays the
// others. It stops at the end of the test, closing every connection.
func Start(t testing.TB, upstream string, interrupt Interrupt, times int) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{upstream: upstream, interrupt: interrupt, times: int64(times), ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's nats:// URL.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Accepts is how many connections the proxy has taken.
func (p *Proxy) Accepts() int64 { return p.accepts.Load() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		var interrupt Interrupt
		if p.accepts.Add(1) <= p.times {
			interrupt = p.interrupt
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.relay(c, interrupt)
		}()
	}
}

// relay relays c to upstream. With interrupt set it passes the server's
// INFO, reads the client's CONNECT, calls interrupt with the client's end
// and closes both ends.
func (p *Proxy) relay(c net.Conn, interrupt Interrupt) {
	defer c.Close()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(c, up) {
		return
	}
	defer p.untrack(c, up)
	if interrupt != nil {
		info, err := bufio.NewReader(up).ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, info)
		bufio.NewReader(c).ReadString('\n') // CONNECT
		interrupt(c)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, c)
		up.Close() // the client went: end the other direction too
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}

// track registers live connections so that close can end them; false once
// the proxy is closed.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
