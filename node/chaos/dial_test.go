package chaos_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest"
)

// A server that closes the connection in the middle of the handshake (as
// nats-server does to a connecting system user while it reloads its
// options) does not fail Dial: it dials again. A proxy in front of the
// real server reads the first connection's CONNECT and closes it.
func TestDial_closedDuringHandshake(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	upstream := strings.TrimPrefix(h.Node("Goloman").NATS().ClientURL(), "nats://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go proxyConn(c, upstream, accepts.Add(1) == 1)
		}
	}()
	cl, err := chaos.Dial("nats://"+ln.Addr().String(), "sys", nodetest.ChaosPassword, 5*time.Second)
	if err != nil {
		t.Fatalf("Dial through a server that closed the first handshake: %v", err)
	}
	defer cl.Close()
	if n := accepts.Load(); n != 2 {
		t.Errorf("Dial connected %d times, want twice (the first closed during the handshake)", n)
	}
}

// proxyConn relays c to upstream; with closeAtConnect it passes the
// server's INFO, reads the client's CONNECT and closes both instead.
func proxyConn(c net.Conn, upstream string, closeAtConnect bool) {
	defer c.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	if closeAtConnect {
		info, err := bufio.NewReader(up).ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, info)
		bufio.NewReader(c).ReadString('\n') // CONNECT
		return
	}
	go func() {
		io.Copy(up, c)
		up.Close() // the client went: end the other direction too
	}()
	io.Copy(c, up)
}
