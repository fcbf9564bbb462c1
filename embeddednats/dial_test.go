package embeddednats

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node/nodetest/natsproxy"
)

// Dial goes through a proxy in front of a real server that interrupts the
// handshakes of the first connections as a busy or reloading nats-server
// does. An interrupted handshake is dialled again within the timeout; a
// refusal is not, and the timeout ends the attempts.
func TestDial(t *testing.T) {
	const pw = "sys-Secret-42"
	cfg := testConfig(t, "Goloman")
	cfg.SystemPassword = pw
	s := startServer(t, cfg)
	upstream := strings.TrimPrefix(s.ClientURL(), "nats://")
	sys := nats.UserInfo(DefaultSystemUser, pw)
	tests := []struct {
		name        string
		interrupt   natsproxy.Interrupt
		times       int
		timeout     time.Duration
		opts        []nats.Option
		wantErr     func(error) bool // nil: connected
		wantAccepts func(int64) bool
	}{
		{name: "closed once", interrupt: natsproxy.Closed, times: 1, timeout: 5 * time.Second, opts: []nats.Option{sys},
			wantAccepts: func(n int64) bool { return n == 2 }},
		{name: "pinged once", interrupt: natsproxy.Pinged, times: 1, timeout: 5 * time.Second,
			wantAccepts: func(n int64) bool { return n == 2 }},
		{name: "pinged until the timeout", interrupt: natsproxy.Pinged, times: 1 << 30, timeout: 300 * time.Millisecond,
			wantErr:     pingBeforePong,
			wantAccepts: func(n int64) bool { return n >= 2 }},
		{name: "refused", timeout: 5 * time.Second, opts: []nats.Option{nats.UserInfo(DefaultSystemUser, "wrong")},
			wantErr:     func(err error) bool { return errors.Is(err, nats.ErrAuthorization) },
			wantAccepts: func(n int64) bool { return n == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := natsproxy.Start(t, upstream, tt.interrupt, tt.times)
			// Returning at all is the timeout's test: the proxy would
			// interrupt every attempt.
			nc, err := Dial(p.URL(), tt.timeout, tt.opts...)
			if nc != nil {
				defer nc.Close()
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Dial: %v, want connected", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Dial: %v, want %s's error", err, tt.name)
			}
			if tt.wantErr == nil && !nc.IsConnected() {
				t.Errorf("Dial returned a connection in state %v", nc.Status())
			}
			if n := p.Accepts(); !tt.wantAccepts(n) {
				t.Errorf("the proxy took %d connections", n)
			}
		})
	}
}
