package embeddednats

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// interruptedPipe is the client's end of an in-process pipe whose server
// interrupts the handshake once the client has written its CONNECT: the
// client's next read first waits delay, then gets inject (if any) before
// what the server sent.
type interruptedPipe struct {
	net.Conn
	delay  time.Duration
	inject []byte

	// mu guards sent and done.
	mu   sync.Mutex
	sent bool // the CONNECT has been written
	done bool // the interruption happened
}

func (p *interruptedPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	if bytes.Contains(b, []byte("CONNECT ")) {
		p.sent = true
	}
	p.mu.Unlock()
	return p.Conn.Write(b)
}

func (p *interruptedPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	now := p.sent && !p.done
	p.done = p.done || now
	p.mu.Unlock()
	if !now {
		return p.Conn.Read(b)
	}
	time.Sleep(p.delay) // the slow server
	if len(p.inject) > 0 {
		return copy(b, p.inject), nil
	}
	return p.Conn.Read(b)
}

// An in-process handshake that the server slows or interrupts still
// connects (the node's own connections at start, the chaos service):
//   - slow: the PONG comes 2.5 s after the CONNECT; nats.go's default
//     timeout (2 s) failed a node's start so on a loaded machine;
//   - pinged: the server's first PING (2 s after the accept) comes before
//     the PONG of a slow CONNECT, which nats.go refuses; Connect dials a
//     second pipe.
func TestServer_Connect_interruptedHandshake(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delay     time.Duration
		inject    string
		wantPipes int64
	}{
		{"slow", 2500 * time.Millisecond, "", 1},
		{"pinged", 0, "PING\r\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, testConfig(t, "Goloman"))
			var pipes atomic.Int64
			s.wrapPipe = func(c net.Conn) net.Conn {
				if pipes.Add(1) > 1 {
					return c
				}
				return &interruptedPipe{Conn: c, delay: tc.delay, inject: []byte(tc.inject)}
			}
			start := time.Now()
			nc, err := s.Connect()
			if err != nil {
				t.Fatalf("Connect through a server that interrupted the handshake: %v", err)
			}
			defer nc.Close()
			if took := time.Since(start); took < tc.delay {
				t.Errorf("Connect took %v, less than the server's delay %v: the delay was not met", took, tc.delay)
			}
			if n := pipes.Load(); n != tc.wantPipes {
				t.Errorf("Connect opened %d pipes, want %d", n, tc.wantPipes)
			}
			if err := nc.Publish("herd.at.Goloman", nil); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatalf("flush after the interrupted handshake: %v", err)
			}
		})
	}
}
