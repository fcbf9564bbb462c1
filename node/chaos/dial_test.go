package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/chaos"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/natsproxy"
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
		interrupt natsproxy.Interrupt
	}{
		{"closed", natsproxy.Closed},
		{"pinged", natsproxy.Pinged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := natsproxy.Start(t, upstream, tc.interrupt, 1)
			cl, err := chaos.Dial(p.URL(), "sys", nodetest.ChaosPassword, 5*time.Second)
			if err != nil {
				t.Fatalf("Dial through a server that interrupted the first handshake: %v", err)
			}
			defer cl.Close()
			if n := p.Accepts(); n != 2 {
				t.Errorf("Dial connected %d times, want twice (the first handshake interrupted)", n)
			}
		})
	}
}
