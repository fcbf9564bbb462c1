package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServer_Handle(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }); err != nil {
		t.Fatal(err)
	}
	if err := s.HandleFunc("GET /hello", func(http.ResponseWriter, *http.Request) {}); err == nil {
		t.Fatal("a conflicting pattern was accepted")
	}
	if s.Addr() != nil || s.URL() != "" {
		t.Fatal("address before Start")
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	// Mounted after Start: served too (the live page comes later).
	if err := s.HandleFunc("GET /later", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "later") }); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/hello": "hi", "/later": "later"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	if resp, err := http.Post(s.URL()+"/hello", "text/plain", strings.NewReader("x")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /hello: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
}

// Close ends a request in flight after ShutdownTimeout, and twice over.
func TestServer_Close(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ShutdownTimeout = 50 * time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	s.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.Get(s.URL() + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	s.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	<-done
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Addr", func(c *Config) { c.Addr = "nope" }},
		{"ReadHeaderTimeout", func(c *Config) { c.ReadHeaderTimeout = 0 }},
		{"ShutdownTimeout", func(c *Config) { c.ShutdownTimeout = -1 }},
		{"Logger", func(c *Config) { c.Logger = nil }},
	} {
		c := DefaultConfig()
		tt.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
}
