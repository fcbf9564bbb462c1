package embeddednats

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestServer_Connect(t *testing.T) {
	s := startServer(t, testConfig(t, "Goloman"))

	if u := s.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Errorf("ClientURL() = %q, want resolved loopback port", u)
	}
	if a := s.ClusterAddr(); !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
		t.Errorf("ClusterAddr() = %q, want resolved loopback port", a)
	}
	if a := s.MonitorAddr(); a != "" {
		t.Errorf("MonitorAddr() = %q with monitoring off, want empty", a)
	}

	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("herd.at.Goloman")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("herd.at.Goloman", []byte("AT 1")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(waitTimeout)
	if err != nil || string(msg.Data) != "AT 1" {
		t.Fatalf("in-process pub/sub: msg %v, err %v", msg, err)
	}

	// The in-process connection is a client of this server, named after the node.
	cz, err := s.NATS().Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cz.Conns) != 1 || cz.Conns[0].Name != "Goloman" {
		t.Errorf("Connz = %+v, want one connection named Goloman", cz.Conns)
	}

	// An observer on the TCP client port sees what the node publishes in-process.
	obs, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	osub, err := obs.SubscribeSync("herd.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("herd.at.Goloman", []byte("AT 2")); err != nil {
		t.Fatal(err)
	}
	if msg, err := osub.NextMsg(waitTimeout); err != nil || string(msg.Data) != "AT 2" {
		t.Fatalf("observer: msg %v, err %v", msg, err)
	}
}

func TestServer_Connect_userOptions(t *testing.T) {
	s := startServer(t, testConfig(t, "Hands"))
	closed := make(chan struct{})
	nc, err := s.Connect(nats.Name("observer"), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	if nc.Opts.Name != "observer" {
		t.Errorf("name = %q, want the caller's", nc.Opts.Name)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("caller's ClosedHandler not called when Server closed")
	}
}

func TestServer_Close(t *testing.T) {
	s := startServer(t, testConfig(t, "Holiday"))
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !nc.IsClosed() {
		t.Error("in-process connection still open after Close")
	}
	if s.NATS().Running() {
		t.Error("nats server still running after Close")
	}
	if _, err := s.Connect(); !errors.Is(err, ErrClosed) {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
	if err := s.Start(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestServer_Close_concurrent(t *testing.T) {
	s := startServer(t, testConfig(t, "Welsh"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
	if s.NATS().Running() {
		t.Error("nats server still running after concurrent Close calls returned")
	}
}

func TestServer_Close_beforeStart(t *testing.T) {
	s, err := New(testConfig(t, "Wilkes"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServer_Start(t *testing.T) {
	t.Run("twice", func(t *testing.T) {
		s := startServer(t, testConfig(t, "A"))
		if err := s.Start(testContext(t)); !errors.Is(err, ErrStarted) {
			t.Errorf("second Start = %v, want ErrStarted", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		s, err := New(testConfig(t, "A"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Start(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Start = %v, want context.Canceled", err)
		}
		if _, err := s.Connect(); err == nil {
			t.Error("Connect after failed Start succeeded")
		}
	})
	t.Run("connect before start", func(t *testing.T) {
		s, err := New(testConfig(t, "A"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Connect(); !errors.Is(err, ErrNotReady) {
			t.Errorf("Connect before Start = %v, want ErrNotReady", err)
		}
		if s.ClientURL() != "" || s.ClusterAddr() != "" || s.NATS() != nil {
			t.Error("addresses known before Start")
		}
	})
}

// A port that is taken makes nats-server call Fatalf; the bridged logger
// must turn that into an error from Start, not an exit of the test binary.
func TestServer_Start_portInUse(t *testing.T) {
	for _, field := range []string{"ClientAddr", "ClusterAddr", "MonitorAddr"} {
		t.Run(field, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfg := testConfig(t, "A")
			logs := newCapture(slog.LevelError)
			cfg.Logger = slog.New(logs)
			switch field {
			case "ClientAddr":
				cfg.ClientAddr = ln.Addr().String()
			case "ClusterAddr":
				cfg.ClusterAddr = ln.Addr().String()
			case "MonitorAddr":
				cfg.MonitorAddr = ln.Addr().String()
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Start(testContext(t))
			if !errors.Is(err, ErrFatal) {
				t.Fatalf("Start = %v, want ErrFatal", err)
			}
			select {
			case <-s.Failed():
			default:
				t.Error("Failed() not closed")
			}
			if !errors.Is(s.Err(), ErrFatal) {
				t.Errorf("Err() = %v", s.Err())
			}
			if logs.count("address already in use") == 0 {
				t.Errorf("no error log about the taken port: %v", logs.records())
			}
		})
	}
}

func TestServer_Fatalf(t *testing.T) {
	cfg := testConfig(t, "Goloman")
	logs := newCapture(slog.LevelError)
	cfg.Logger = slog.New(logs)
	s := startServer(t, cfg)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}

	// nats-server's own logger would os.Exit here.
	s.NATS().Fatalf("boom %d", 42)

	select {
	case <-s.Failed():
	case <-time.After(waitTimeout):
		t.Fatal("Failed() not closed after Fatalf")
	}
	if err := s.Err(); !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "boom 42") {
		t.Errorf("Err() = %v, want ErrFatal with the message", err)
	}
	if n := logs.count("boom 42"); n != 1 {
		t.Errorf("%d error records \"boom 42\", want 1: %v", n, logs.records())
	}
	waitFor(t, "server shut down after Fatalf", func() bool { return !s.NATS().Running() && nc.IsClosed() })
	if _, err := s.Connect(); !errors.Is(err, ErrFatal) {
		t.Errorf("Connect after fatal = %v, want ErrFatal", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServer_MonitorAddr(t *testing.T) {
	cfg := testConfig(t, "Welsh")
	cfg.MonitorAddr = "127.0.0.1:0"
	s := startServer(t, cfg)
	addr := s.MonitorAddr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("MonitorAddr() = %q, want resolved loopback port", addr)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/varz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		ServerName string `json:"server_name"`
		Cluster    struct {
			Name string `json:"name"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.ServerName != "Welsh" || v.Cluster.Name != "herd" {
		t.Errorf("/varz = %+v, want server Welsh in cluster herd", v)
	}
}

func TestServer_optionsHook(t *testing.T) {
	cfg := testConfig(t, "Wilkes")
	cfg.Options = func(o *server.Options) { o.MaxPayload = 4096 }
	s := startServer(t, cfg)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got != 4096 {
		t.Errorf("MaxPayload = %d, want 4096 set by the Options hook", got)
	}
}
