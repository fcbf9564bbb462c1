package embeddednats

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// rawClient is a NATS client speaking the protocol by hand, as an
// attacker would: nothing in nats.go stands between it and the server.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// dialRaw connects without credentials (the observer) under name and
// waits for the server to accept the CONNECT. rcvbuf, if positive, shrinks
// the socket's receive buffer, so that a client that never reads makes
// the server queue sooner.
func dialRaw(t *testing.T, addr, name string, rcvbuf int) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", strings.TrimPrefix(addr, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawClient{t: t, conn: c, br: bufio.NewReaderSize(c, 64<<10)}
	r.send(fmt.Sprintf(`CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1,"name":%q}`+"\r\nPING\r\n", name))
	if line := r.line(); line != "PONG" {
		t.Fatalf("after CONNECT: %q, want PONG", line)
	}
	return r
}

func (r *rawClient) send(s string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// line reads one protocol line without its CRLF, skipping the INFO
// updates the server may send at any time.
func (r *rawClient) line() string {
	r.t.Helper()
	s, err := r.readLine()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return s
}

func (r *rawClient) readLine() (string, error) {
	for {
		r.conn.SetReadDeadline(time.Now().Add(waitTimeout))
		s, err := r.br.ReadString('\n')
		if err != nil || !strings.HasPrefix(s, "INFO ") {
			return strings.TrimRight(s, "\r\n"), err
		}
	}
}

// untilPong reads lines up to the next PONG and returns them, PINGs
// answered.
func (r *rawClient) untilPong() []string {
	r.t.Helper()
	var lines []string
	for {
		l := r.line()
		switch l {
		case "PONG":
			return lines
		case "PING":
			r.send("PONG\r\n")
		default:
			lines = append(lines, l)
		}
	}
}

// connByName returns the open connection called name, or nil.
func connByName(t *testing.T, s *Server, name string) *server.ConnInfo {
	t.Helper()
	cz, err := s.NATS().Connz(&server.ConnzOptions{Limit: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// closedReason is the reason the server closed the connection called
// name, or "" if it has not.
func closedReason(t *testing.T, s *Server, name string) string {
	t.Helper()
	cz, err := s.NATS().Connz(&server.ConnzOptions{State: server.ConnClosed, Limit: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == name {
			return c.Reason
		}
	}
	return ""
}

// The attack of issue 19: an observer joining the service's queue group
// takes a share of the requests, which nobody answers. Every queue
// subscription and every subscription to a service subject is refused;
// a wildcard over the bus still watches the flood but never sees a
// request.
func TestServer_observerServiceSubjects(t *testing.T) {
	s, node := startWithNode(t, testConfig(t, "A"))
	var answered atomic.Int64
	if _, err := node.QueueSubscribe("herd.iamat", "herd", func(m *nats.Msg) {
		answered.Add(1)
		m.Respond([]byte("ok " + string(m.Data)))
	}); err != nil {
		t.Fatal(err)
	}
	if err := node.Flush(); err != nil {
		t.Fatal(err)
	}

	// The attack as sent in the issue, by hand.
	raw := dialRaw(t, s.ClientURL(), "thief", 0)
	raw.send("SUB herd.iamat herd 1\r\nSUB herd.whatsat herd 2\r\nSUB herd.at.A q 3\r\nPING\r\n")
	refused := raw.untilPong()
	want := []string{
		`-ERR 'Permissions Violation for Subscription to "herd.iamat" using queue "herd"'`,
		`-ERR 'Permissions Violation for Subscription to "herd.whatsat" using queue "herd"'`,
		`-ERR 'Permissions Violation for Subscription to "herd.at.A" using queue "q"'`,
	}
	if strings.Join(refused, "\n") != strings.Join(want, "\n") {
		t.Fatalf("server answered\n%s\nwant\n%s", strings.Join(refused, "\n"), strings.Join(want, "\n"))
	}
	if c := connByName(t, s, "thief"); c == nil || c.NumSubs != 0 {
		t.Fatalf("thief's connection %+v, want open with no subscription", c)
	}

	// Through nats.go: every queue group and the service subjects.
	obs, errs := observerConn(t, s)
	for _, sub := range []struct{ subject, queue string }{
		{"herd.iamat", "herd"}, {"herd.iamat", ""}, {"herd.whatsat", ""}, {"$SRV.PING", ""}, {"$SRV.>", ""},
		{"herd.>", "q"}, {"_INBOX.x", "q"}, {"herd.sync.A", "other"},
	} {
		if _, err := obs.QueueSubscribe(sub.subject, sub.queue, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), sub.subject) {
				t.Errorf("subscribe %q queue %q: %v, want a permissions violation", sub.subject, sub.queue, err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("subscribe %q queue %q: accepted", sub.subject, sub.queue)
		}
	}

	// Allowed: watching the bus. The request another client sends on
	// herd.iamat is answered by the node and not delivered to the
	// watcher, which sees the node's flood message sent after it.
	watch, err := obs.SubscribeSync("herd.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	caller, _ := observerConn(t, s)
	const requests = 30
	for i := range requests {
		reply, err := caller.Request("herd.iamat", fmt.Appendf(nil, "r%d", i), waitTimeout)
		if err != nil || string(reply.Data) != fmt.Sprintf("ok r%d", i) {
			t.Fatalf("request %d: %v %v", i, reply, err)
		}
	}
	if n := answered.Load(); n != requests {
		t.Errorf("node answered %d of %d requests", n, requests)
	}
	if err := node.Publish("herd.at.A", []byte("flood")); err != nil {
		t.Fatal(err)
	}
	if m, err := watch.NextMsg(waitTimeout); err != nil || m.Subject != "herd.at.A" {
		t.Fatalf("watcher got %v (%v), want the flood and no request", m, err)
	}
	select {
	case err := <-errs:
		t.Errorf("unexpected async error %v", err)
	default:
	}
}

// startWithNode starts a server and an in-process connection, as a node
// holds; both close when the test ends.
func startWithNode(t *testing.T, cfg Config) (*Server, *nats.Conn) {
	t.Helper()
	s := startServer(t, cfg)
	node, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	return s, node
}
