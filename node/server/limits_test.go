package server

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/nodetest/logbuf"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places"
)

// Every limit a client can hit is logged, and a flood of hits of one kind
// writes one line per second, not one per hit.
func TestServer_LimitsLogged(t *testing.T) {
	logs := &logbuf.Buffer{}
	ts := startServer(t, func(c *Config, _ *places.Provider) {
		// Info: the limits are logged there, and debug would add every
		// client line (the traffic log) to the buffer.
		c.Logger = logs.Logger(slog.LevelInfo)
		c.IdleTimeout = 300 * time.Millisecond
		c.WriteTimeout = 200 * time.Millisecond
		c.MaxOutstanding = 2
		c.MaxConns = 40
		c.MaxLineBytes = 64
	})

	// Line length: twenty long lines, one log line.
	out := ts.roundTrip(t, bytes.Repeat([]byte(strings.Repeat("x", 100)+"\n"), 20))
	if got := strings.Count(string(out), "? "); got != 20 {
		t.Fatalf("%d ? replies to 20 long lines", got)
	}
	if n := logs.Count("line too long"); n != 1 {
		t.Errorf("20 long lines logged %d times, want 1", n)
	}

	// Idle: twenty connections time out together, one log line.
	var idle []net.Conn
	for range 20 {
		idle = append(idle, ts.dial(t))
	}
	for _, c := range idle {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
		}
	}
	if n := logs.Count("idle timeout"); n != 1 {
		t.Errorf("20 idle timeouts logged %d times, want 1", n)
	}

	// Connections: over the cap, refused and logged.
	var held []net.Conn
	for range 40 {
		c := ts.dial(t)
		c.Write([]byte("IAMAT c +1+1 1\n")) // not idle: keep them open a while
		held = append(held, c)
	}
	wait.For(t, "40 connections", func() bool { return ts.NumConns() == 40 })
	extra := ts.dial(t)
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection over the cap was served")
	}
	wait.For(t, "refusal logged", func() bool { return logs.Contains("connection limit reached") })
	for _, c := range held {
		c.Close()
	}
	wait.For(t, "connections closed", func() bool { return ts.NumConns() == 0 })

	// Outstanding replies and write timeout: a client that never reads.
	slow := ts.dial(t)
	// (Its receive buffer is left alone: a tiny one can stall both
	// directions on loopback, and the server then ends it as idle.)
	go func() { // until the server gives up on it
		chunk := bytes.Repeat([]byte("IAMAT c +1+1 1\n"), 1<<16)
		for {
			if _, err := slow.Write(chunk); err != nil {
				return
			}
		}
	}()
	wait.For(t, "outstanding limit logged", func() bool { return logs.Contains("outstanding replies limit") })
	wait.Within(t, fillTimeout, "write timeout logged", func() bool { return logs.Contains("write failed or timed out") })
	wait.For(t, "slow client closed", func() bool { return ts.NumConns() == 0 })
}

// The reply to a complete line is written at once, even when a partial
// next line arrived with it and the client waits for the reply before
// sending the rest.
func TestServer_ReplyBeforePartialLine(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("IAMAT a +1+1 1621464828\nIAMAT b +1+1 16214")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "AT Goloman +0.223372037 a +1+1 1621464828\n" {
		t.Fatalf("first reply %q, %v", line, err)
	}
	if _, err := c.Write([]byte("64828\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "AT Goloman +0.223372037 b +1+1 1621464828\n" {
		t.Fatalf("second reply %q, %v", line, err)
	}
}

// A client that streams lines for longer than the idle timeout is not
// idle, however its reads fall across line boundaries. (The idle timeout
// leaves room for the writer to be descheduled on a busy machine; the
// stream lasts four of them.)
func TestServer_StreamingIsNotIdle(t *testing.T) {
	const idle = 250 * time.Millisecond
	ts := startServer(t, func(c *Config, _ *places.Provider) {
		c.IdleTimeout = idle
		c.MaxLineBytes = 64 // a small buffer: reads rarely end on a line
	})
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.Copy(io.Discard, c)
	deadline := time.Now().Add(4 * idle)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("IAMAT c +1+1 1\nIAMAT c +1")); err != nil {
			t.Fatalf("write after %s: %v", 4*idle-time.Until(deadline), err)
		}
		if _, err := c.Write([]byte("+1 1\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if ts.NumConns() != 1 {
		t.Fatal("streaming connection was closed")
	}
}
