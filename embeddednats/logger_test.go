package embeddednats

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestSlogLogger_levels(t *testing.T) {
	logs := newCapture(LevelTrace)
	var fatal string
	l := newSlogLogger(slog.New(logs), func(msg string) { fatal = msg })

	l.Noticef("notice %d", 1)
	l.Warnf("warn %d", 2)
	l.Errorf("error %d\n", 3)
	l.Debugf("debug %d", 4)
	l.Tracef("trace %d", 5)
	l.Fatalf("fatal %d", 6) // must return, not exit

	want := []struct {
		level slog.Level
		msg   string
	}{
		{slog.LevelInfo, "notice 1"},
		{slog.LevelWarn, "warn 2"},
		{slog.LevelError, "error 3"},
		{slog.LevelDebug, "debug 4"},
		{LevelTrace, "trace 5"},
		{slog.LevelError, "fatal 6"},
	}
	recs := logs.records()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		if recs[i].Level != w.level || recs[i].Message != w.msg {
			t.Errorf("record %d = %v %q, want %v %q", i, recs[i].Level, recs[i].Message, w.level, w.msg)
		}
	}
	if fatal != "fatal 6" {
		t.Errorf("onFatal got %q, want \"fatal 6\"", fatal)
	}
}

func TestSlogLogger_nilLogger(t *testing.T) {
	l := newSlogLogger(nil, nil)
	l.Noticef("discarded")
	l.Fatalf("discarded too") // no hook, no exit, no panic
}

// nats-server only calls Debugf/Tracef when its debug/trace flags are on;
// the Config leaves them off so a busy herd does not log every protocol line.
func TestServer_debugTrace(t *testing.T) {
	for _, tt := range []struct {
		name         string
		debug, trace bool
	}{
		{"default off", false, false},
		{"debug", true, false},
		{"trace", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(LevelTrace)
			cfg := testConfig(t, "A")
			cfg.Logger = slog.New(logs)
			cfg.Debug, cfg.Trace = tt.debug, tt.trace
			s := startServer(t, cfg)
			nc, err := s.Connect()
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("herd.x", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			nc.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var debug, trace, info int
			for _, r := range logs.records() {
				switch {
				case r.Level == LevelTrace:
					trace++
				case r.Level == slog.LevelDebug:
					debug++
				case r.Level >= slog.LevelInfo:
					info++
				}
			}
			if info == 0 {
				t.Error("no info records from a server start")
			}
			if (debug > 0) != tt.debug {
				t.Errorf("%d debug records with Debug=%v", debug, tt.debug)
			}
			if (trace > 0) != tt.trace {
				t.Errorf("%d trace records with Trace=%v", trace, tt.trace)
			}
		})
	}
}

// Debug and trace lines are not limited; fatal is never dropped.
func TestSlogLogger_limit(t *testing.T) {
	logs := newCapture(LevelTrace)
	l := newSlogLogger(slog.New(logs), nil)
	for range 3 * logBurst {
		l.Errorf("refused")
		l.Debugf("debug")
	}
	l.Fatalf("fatal")
	if n := logs.count("refused"); n > logBurst+1 {
		t.Errorf("%d error lines logged, want <= %d", n, logBurst+1)
	}
	if n := logs.count("debug"); n != 3*logBurst {
		t.Errorf("%d debug lines, want all %d", n, 3*logBurst)
	}
	if logs.count("fatal") != 1 {
		t.Error("fatal line dropped")
	}
}

// Lines of one shape (digits aside) are logged repeatBurst times, then
// held back; other lines still pass. (bus/ratelog tests the timing.)
func TestSlogLogger_repeats(t *testing.T) {
	logs := newCapture(LevelTrace)
	l := newSlogLogger(slog.New(logs), nil)
	for i := range 3 * repeatBurst {
		l.Errorf("127.0.0.1:%d - rid:%d - authentication error", 40000+i, i)
	}
	l.Errorf("a different line")
	if n := logs.count("authentication error"); n != repeatBurst {
		t.Errorf("%d lines of one shape logged, want %d", n, repeatBurst)
	}
	if logs.count("a different line") != 1 {
		t.Error("a different line was left out")
	}
}

// A route or gateway write that failed because the peer closed the
// connection, or a route dial that found nobody listening (or a listener
// closing with it queued), is a neighbor
// gone away (or not started yet): info. A route dial on loopback that
// timed out is a busy machine: a warning. Anything else stays an error.
func TestSlogLogger_peerWentAway(t *testing.T) {
	pipe := &net.OpError{Op: "writev", Net: "tcp", Err: os.NewSyscallError("writev", syscall.EPIPE)}
	reset := &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
	timeout := &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 16222}, Err: os.ErrDeadlineExceeded}
	loopbackTimeout := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 34471}, Err: os.ErrDeadlineExceeded}
	const dial = "Error trying to connect to route (attempt %v): %v"
	for _, tt := range []struct {
		name, format string
		err          error
		want         slog.Level
	}{
		{"route dial refused", dial, refused, slog.LevelInfo},
		{"route dial reset", dial, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}, slog.LevelInfo},
		{"route dial timeout", dial, dialTimeout, slog.LevelError},
		{"route dial timeout on loopback", dial, loopbackTimeout, slog.LevelWarn},
		{"route broken pipe", "127.0.0.1:47574 - rid:8 - Error flushing: %v", pipe, slog.LevelInfo},
		{"route reset", "127.0.0.1:47574 - rid:8 - Error flushing: %v", reset, slog.LevelInfo},
		{"gateway broken pipe", "127.0.0.1:7222 - gid:3 - Error flushing: %v", pipe, slog.LevelInfo},
		{"route timeout", "127.0.0.1:47574 - rid:8 - Error flushing: %v", timeout, slog.LevelError},
		{"client broken pipe", "127.0.0.1:5000 - cid:9 - Error flushing: %v", pipe, slog.LevelError},
		{"other route error", "127.0.0.1:47574 - rid:8 - Error something: %v", pipe, slog.LevelError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(LevelTrace)
			args := []any{tt.err}
			if tt.format == dial {
				args = []any{1, tt.err}
			}
			newSlogLogger(slog.New(logs), nil).Errorf(tt.format, args...)
			recs := logs.records()
			if len(recs) != 1 || recs[0].Level != tt.want {
				t.Fatalf("logged %v, want one line at %v", recs, tt.want)
			}
		})
	}
}

// A route's TLS handshake dropped by its dialler (EOF, reset) is expected
// while chaos cuts are in place or lately (each cut and heal reloads the
// routes of both ends), and logged at info then; otherwise, and for a
// certificate fault or a client's handshake, it stays an error.
func TestSlogLogger_routeHandshakeDropped(t *testing.T) {
	const format = "127.0.0.1:56480 - rid:43 - TLS %s handshake error: %v%s"
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	badCert := errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")
	for _, tt := range []struct {
		name    string
		kind    string
		err     error
		cutting bool
		want    slog.Level
	}{
		{"EOF while cutting", "route", io.EOF, true, slog.LevelInfo},
		{"reset while cutting", "route", reset, true, slog.LevelInfo},
		{"EOF without cuts", "route", io.EOF, false, slog.LevelError},
		{"bad certificate while cutting", "route", badCert, true, slog.LevelError},
		{"gateway EOF while cutting", "gateway", io.EOF, true, slog.LevelError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(LevelTrace)
			l := newSlogLogger(slog.New(logs), nil)
			l.cutting = func() bool { return tt.cutting }
			l.Errorf(format, tt.kind, tt.err, "")
			if recs := logs.records(); len(recs) != 1 || recs[0].Level != tt.want {
				t.Fatalf("logged %v, want one line at %v", recs, tt.want)
			}
		})
	}
}

func TestShape(t *testing.T) {
	if got := shape("127.0.0.1:5 - rid:12 - x9y"); got != "#.#.#.#:# - rid:# - x#y" {
		t.Errorf("shape = %q", got)
	}
}

// A client whose connection the server closed while it logged in (a
// reload moving its account, or its auth timer on a busy machine) is
// reported by nats-server's read loop whenever it gets there, after the
// reload too; that is logged at info, saying why. Any other failure to
// register stays an error.
func TestSlogLogger_closedWhileRegistering(t *testing.T) {
	// The format and arguments as client.go reportErrRegisterAccount
	// passes them, with the connection's description before.
	const format = "127.0.0.1:59934 - cid:122 - Problem registering with account %q: %s"
	tests := []struct {
		name  string
		err   error
		level slog.Level
		says  string
	}{
		{"connection closed", server.ErrConnectionClosed, slog.LevelInfo, "while it logged in"},
		{"bad account", server.ErrBadAccount, slog.LevelError, `"$SYS": bad account`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := newCapture(slog.LevelDebug)
			l := newSlogLogger(slog.New(logs), nil)
			l.Errorf(format, "$SYS", tt.err)
			recs := logs.records()
			if len(recs) != 1 || recs[0].Level != tt.level || !strings.Contains(recs[0].Message, tt.says) {
				t.Fatalf("logged %v, want one %v line saying %q", recs, tt.level, tt.says)
			}
		})
	}
}
