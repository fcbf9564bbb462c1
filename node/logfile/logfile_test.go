package logfile

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, mod func(*Config)) (*File, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "node.log")
	if mod != nil {
		mod(&cfg)
	}
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, cfg.Path
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Lines stay in memory until a flush: the hot path makes no system call.
func TestFile_Buffered(t *testing.T) {
	f, path := open(t, func(c *Config) { c.FlushInterval = time.Hour })
	slog.New(f.Handler()).Debug("input", "line", "IAMAT a +1+1 1")
	if got := read(t, path); got != "" {
		t.Fatalf("written before a flush: %q", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := read(t, path); !strings.Contains(got, `msg=input line="IAMAT a +1+1 1"`) {
		t.Fatalf("after Close: %q", got)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestFile_PeriodicFlush(t *testing.T) {
	f, path := open(t, func(c *Config) { c.FlushInterval = 5 * time.Millisecond; c.Format = "json" })
	slog.New(f.Handler()).Info("connection opened", "remote", "127.0.0.1:5")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(read(t, path), `"msg":"connection opened","remote":"127.0.0.1:5"`) {
		if time.Now().After(deadline) {
			t.Fatalf("never flushed: %q", read(t, path))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Appending keeps what an earlier run wrote.
func TestFile_Appends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.log")
	for _, msg := range []string{"first", "second"} {
		cfg := DefaultConfig()
		cfg.Path = path
		f, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		slog.New(f.Handler()).Info(msg)
		f.Close()
	}
	if got := read(t, path); !strings.Contains(got, "msg=first") || !strings.Contains(got, "msg=second") {
		t.Fatalf("file: %q", got)
	}
}

// Tee gives each handler the records at its own level: the console at
// info, the file at debug.
func TestTee(t *testing.T) {
	f, path := open(t, nil)
	var console strings.Builder
	log := slog.New(Tee(slog.NewTextHandler(&console, nil), f.Handler())).With("node", "A")
	ctx := context.Background()
	if !log.Enabled(ctx, slog.LevelDebug) {
		t.Fatal("debug disabled although the file wants it")
	}
	log.Debug("input", "line", "x")
	log.Info("listening")
	f.Close()
	file := read(t, path)
	if strings.Contains(console.String(), "input") || !strings.Contains(console.String(), "msg=listening node=A") {
		t.Errorf("console: %q", console.String())
	}
	if !strings.Contains(file, "msg=input node=A line=x") || !strings.Contains(file, "msg=listening node=A") {
		t.Errorf("file: %q", file)
	}
	quiet := slog.New(Tee(slog.NewTextHandler(&console, nil), MinLevel(slog.NewTextHandler(&console, nil), slog.LevelWarn)))
	if quiet.Enabled(ctx, slog.LevelDebug) {
		t.Error("Tee of info and warn handlers enabled at debug")
	}
	if MinLevel(slog.NewTextHandler(&console, nil), slog.LevelWarn).Enabled(ctx, slog.LevelInfo) {
		t.Error("MinLevel(warn) enabled at info")
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Path", func(c *Config) { c.Path = "" }},
		{"Format", func(c *Config) { c.Format = "xml" }},
		{"FlushInterval", func(c *Config) { c.FlushInterval = 0 }},
		{"BufferBytes", func(c *Config) { c.BufferBytes = 0 }},
	} {
		c := DefaultConfig()
		c.Path = "x.log"
		tt.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "missing", "x.log"), Format: "text", FlushInterval: time.Second, BufferBytes: 1}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}
