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

// A handshake that a busy or reloading server interrupts does not fail
// Dial: it dials again. A proxy in front of the real server interrupts the
// first connection's handshake once the client has sent its CONNECT:
//   - closed: nats-server closes a connecting system user while it
//     reloads its options (every chaos cut and heal reloads them);
//   - pinged: nats-server sends a client its first PING 2 s after the
//     accept, and when the CONNECT takes longer than that (a reload holds
//     the server, or the machine is starved) the PING comes before the
//     handshake's PONG, which nats.go refuses ("expected 'PONG', got
//     'PING'"); `herd chaos heal-all` failed so on a loaded machine.
func TestDial_handshakeInterrupted(t *testing.T) {
	h := startHerd(t, defaultTopology, floodOnly)
	upstream := strings.TrimPrefix(h.Node("Goloman").NATS().ClientURL(), "nats://")
	for _, tc := range []struct {
		name      string
		interrupt func(client net.Conn)
	}{
		{"closed", func(net.Conn) {}},
		{"pinged", func(c net.Conn) { io.WriteString(c, "PING\r\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
					var interrupt func(net.Conn)
					if accepts.Add(1) == 1 {
						interrupt = tc.interrupt
					}
					go proxyConn(c, upstream, interrupt)
				}
			}()
			cl, err := chaos.Dial("nats://"+ln.Addr().String(), "sys", nodetest.ChaosPassword, 5*time.Second)
			if err != nil {
				t.Fatalf("Dial through a server that interrupted the first handshake: %v", err)
			}
			defer cl.Close()
			if n := accepts.Load(); n != 2 {
				t.Errorf("Dial connected %d times, want twice (the first handshake interrupted)", n)
			}
		})
	}
}

// proxyConn relays c to upstream. With interrupt set it passes the
// server's INFO, reads the client's CONNECT, calls interrupt with the
// client's end and closes both ends.
func proxyConn(c net.Conn, upstream string, interrupt func(client net.Conn)) {
	defer c.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
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
	go func() {
		io.Copy(up, c)
		up.Close() // the client went: end the other direction too
	}()
	io.Copy(c, up)
}
