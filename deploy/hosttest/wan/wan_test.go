package wan

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo is a loopback server that echoes every line back.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// relayTo starts a relay with delay in front of target, for traffic from
// region "a" to region "b", and returns it with its address.
func relayTo(t *testing.T, delay time.Duration, target string) (*Relay, string) {
	t.Helper()
	r := New(delay, func(net.Addr) string { return "a" })
	t.Cleanup(r.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	if err := r.Forward(ln, "b", func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", target) }); err != nil {
		t.Fatal(err)
	}
	return r, ln.Addr().String()
}

// A round trip through the relay takes at least the delay each way, every
// byte arrives in order, and the relay counts the bytes both ways.
func TestRelay_delayAndBytes(t *testing.T) {
	const delay = 30 * time.Millisecond
	r, addr := relayTo(t, delay, echo(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var rtts []time.Duration
	for _, msg := range []string{"hello\n", "a second line\n", "third\n"} {
		start := time.Now()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
		rtt := time.Since(start)
		rtts = append(rtts, rtt)
		if rtt < 2*delay {
			t.Errorf("round trip %v, want at least twice the delay %v", rtt, delay)
		}
	}
	t.Logf("round trips through a %v relay: %v", delay, rtts)
	// The relay counts a write once it returned, which may be just after
	// the echo reached us.
	want := int64(2 * (6 + 14 + 6))
	for deadline := time.Now().Add(5 * time.Second); r.Bytes() != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if r.Bytes() != want {
		t.Errorf("relay counted %d bytes, want %d", r.Bytes(), want)
	}
}

// Cutting a region closes its relayed connections and drops new ones;
// healing lets new ones through again.
func TestRelay_cutAndHeal(t *testing.T) {
	r, addr := relayTo(t, time.Millisecond, echo(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "up\n")
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if r.Links() != 1 {
		t.Fatalf("%d links, want 1", r.Links())
	}
	r.Cut("b")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a cut link still carries data")
	}
	for _, how := range []string{"during the cut", "after the heal"} {
		if how == "after the heal" {
			r.Heal("b")
		}
		d, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(d, "ping\n")
		d.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = bufio.NewReader(d).ReadString('\n')
		d.Close()
		if (err == nil) != (how == "after the heal") {
			t.Errorf("%s: echo error %v", how, err)
		}
	}
}

// A half-close passes through after the data before it.
func TestRelay_halfClose(t *testing.T) {
	_, addr := relayTo(t, 5*time.Millisecond, echo(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "last words")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last words" {
		t.Errorf("read %q, %v; want the echo then EOF", got, err)
	}
}
