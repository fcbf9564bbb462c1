package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// handshakeTimeout bounds reading a dialing server's first lines.
const handshakeTimeout = 5 * time.Second

// maxHandshakeLine bounds one of those lines (a route INFO lists the
// cluster's URLs; a few KiB is plenty).
const maxHandshakeLine = 64 << 10

// proxy is the route proxy in front of one node's cluster port. It is the
// address that node advertises, so every route to the node, seeded or
// learned by gossip, comes through it, and it knows from the route's
// CONNECT (and INFO) line which node dialled.
type proxy struct {
	node string
	net  *Net
	ln   net.Listener
	wg   sync.WaitGroup // accept loop and pipes

	mu     sync.Mutex // guards target, conns and their links' peer
	target string     // the node's real cluster address; "" while stopped
	conns  map[*link]struct{}
}

// link is one proxied route connection.
type link struct {
	id        string // the dialing server's ID, from its CONNECT line
	peer      string // the dialing node, "" while its ID is unknown; guarded by the proxy's mu once tracked
	down, up  net.Conn
	closeOnce sync.Once
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.down.Close()
		if l.up != nil {
			l.up.Close()
		}
	})
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// handle reads who is dialling, refuses it if the link is cut, and else
// pipes it to the node.
func (p *proxy) handle(c net.Conn) {
	l := &link{down: c}
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(c, 4096)
	first, err := readLine(br)
	if err != nil {
		c.Close()
		return
	}
	consumed := [][]byte{first}
	// The ID of a node that just started may not be registered yet; it is
	// resolved again whenever a cut needs it.
	l.id = connectName(first)
	peer := p.net.nameOf(l.id)
	c.SetReadDeadline(time.Time{})
	l.peer = peer
	if peer != "" && p.net.isCut(p.node, peer) {
		c.Close()
		return
	}
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	if target == "" {
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", target, handshakeTimeout)
	if err != nil {
		c.Close()
		return
	}
	l.up = up
	if !p.track(l) {
		return
	}
	defer p.untrack(l)
	for _, line := range consumed {
		p.net.bytes.Add(int64(len(line)))
		if _, err := up.Write(line); err != nil {
			l.close()
			return
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(counter{up, &p.net.bytes}, br) // what br buffered, then the rest of c
		l.close()
	})
	io.Copy(counter{c, &p.net.bytes}, up)
	l.close()
	wg.Wait()
}

// track registers l, or closes it when the link was cut meanwhile.
func (p *proxy) track(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.peer == "" {
		l.peer = p.net.nameOf(l.id)
	}
	if p.conns == nil || (l.peer != "" && p.net.isCut(p.node, l.peer)) {
		l.close()
		return false
	}
	p.conns[l] = struct{}{}
	return true
}

func (p *proxy) untrack(l *link) {
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// closePeer closes every proxied connection from peer.
func (p *proxy) closePeer(peer string) {
	p.mu.Lock()
	var ls []*link
	for l := range p.conns {
		if l.peer == "" {
			l.peer = p.net.nameOf(l.id)
		}
		if l.peer == peer {
			ls = append(ls, l)
		}
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

// close stops accepting, closes every connection and waits.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for l := range conns {
		l.close()
	}
	p.wg.Wait()
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

var errLineTooLong = errors.New("handshake line too long")

// readLine reads one line, LF included.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxHandshakeLine {
			return nil, errLineTooLong
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// connectName is the "name" of a route CONNECT line: the dialing
// server's ID.
func connectName(line []byte) string {
	js, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("CONNECT "))
	if !ok {
		return ""
	}
	var v struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(js, &v) != nil {
		return ""
	}
	return v.Name
}
