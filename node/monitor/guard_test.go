package monitor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// get asks s for path with the given Host header.
func get(t *testing.T, s *Server, host, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func startGuarded(t *testing.T, addr string, allowed ...string) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr, cfg.AllowedHosts = addr, allowed
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	// nats-server's own response writer, which allows every origin.
	if err := s.HandleFunc("GET /varz", func(w http.ResponseWriter, r *http.Request) {
		natsserver.ResponseHandler(w, r, []byte(`{"server_name":"A"}`))
	}); err != nil {
		t.Fatal(err)
	}
	// An event stream, as the live view serves.
	if err := s.HandleFunc("GET /events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the guard: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// The monitor answers for its own address and loopback names only (DNS
// rebinding), and never with a wildcard CORS header.
func TestServer_guard(t *testing.T) {
	s := startGuarded(t, "127.0.0.1:0", "herd-proxy.internal")
	_, port, _ := net.SplitHostPort(s.Addr().String())
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"localhost:" + port, true},
		{"LocalHost", true},
		{"[::1]:" + port, true},
		{"127.0.0.2:8080", true}, // loopback, any port: an ssh tunnel
		{"herd-proxy.internal", true},
		{"evil.example:" + port, false}, // a rebinding page
		{"evil.example", false},
		{"localhost.evil.example", false},
		{"10.0.0.1:" + port, false},
		{"127.0.0.1.nip.io", false},
	} {
		code, hdr, body := get(t, s, tt.host, "/varz")
		switch {
		case tt.ok && (code != http.StatusOK || body != `{"server_name":"A"}`):
			t.Errorf("Host %q: %d %q, want the answer", tt.host, code, body)
		case !tt.ok && (code != http.StatusMisdirectedRequest || !strings.Contains(body, "refused Host") || strings.Contains(body, "server_name")):
			t.Errorf("Host %q: %d %q, want 421 with a reason", tt.host, code, body)
		}
		if v := hdr.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Host %q: Access-Control-Allow-Origin %q", tt.host, v)
		}
	}
	code, hdr, body := get(t, s, "127.0.0.1:"+port, "/events")
	if code != http.StatusOK || body != "data: one\n\n" || hdr.Get("Content-Type") != "text/event-stream" {
		t.Errorf("event stream: %d %q %v", code, body, hdr)
	}
}

// On all interfaces any IP of the host may be asked for; names still
// must be known.
func TestServer_guardAllInterfaces(t *testing.T) {
	s := startGuarded(t, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(s.Addr().String())
	for host, want := range map[string]int{
		"192.0.2.7:" + port:     http.StatusOK,
		"[2001:db8::1]:" + port: http.StatusOK,
		"localhost:" + port:     http.StatusOK,
		"evil.example:" + port:  http.StatusMisdirectedRequest,
		"node1.example:" + port: http.StatusMisdirectedRequest,
	} {
		if code, _, body := get(t, s, host, "/varz"); code != want {
			t.Errorf("Host %q: %d %q, want %d", host, code, body, want)
		}
	}
}

func TestConfig_Validate_allowedHosts(t *testing.T) {
	for _, h := range []string{"", "a b", "proxy:8080", "http://x"} {
		c := DefaultConfig()
		c.AllowedHosts = []string{"ok.example", h}
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "AllowedHosts[1]") {
			t.Errorf("AllowedHosts %q: %v", h, err)
		}
	}
}
