package embeddednats

import (
	"fmt"
	"log/slog"
	"testing"
	"time"
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

func TestLineLimiter_allow(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLineLimiter(func() time.Time { return now })
	for i := range logBurst {
		if ok, _ := l.allow(); !ok {
			t.Fatalf("line %d of the burst refused", i)
		}
	}
	for range 5 {
		if ok, _ := l.allow(); ok {
			t.Fatal("line beyond the burst allowed")
		}
	}
	now = now.Add(time.Second / logRate)
	if ok, dropped := l.allow(); !ok || dropped != 5 {
		t.Fatalf("after 1/rate: ok %v dropped %d, want true 5", ok, dropped)
	}
	if ok, _ := l.allow(); ok {
		t.Fatal("second line after 1/rate allowed")
	}
	now = now.Add(time.Hour) // refills to the burst, no further
	for range logBurst {
		if ok, _ := l.allow(); !ok {
			t.Fatal("refilled burst refused")
		}
	}
	if ok, _ := l.allow(); ok {
		t.Fatal("bucket grew past the burst")
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

func TestRepeatLimiter_allow(t *testing.T) {
	now := time.Unix(0, 0)
	l := newRepeatLimiter(func() time.Time { return now })
	line := func(i int) string { return fmt.Sprintf("127.0.0.1:%d - rid:%d - authentication error", 40000+i, i) }
	for i := range repeatBurst {
		if ok, _ := l.allow(line(i)); !ok {
			t.Fatalf("line %d of the burst left out", i)
		}
	}
	for i := range 10 {
		if ok, _ := l.allow(line(100 + i)); ok {
			t.Fatal("repeat after the burst logged before repeatEvery")
		}
	}
	if ok, _ := l.allow("a different line"); !ok {
		t.Fatal("a different line was left out")
	}
	now = now.Add(repeatEvery)
	if ok, n := l.allow(line(200)); !ok || n != 10 {
		t.Fatalf("after repeatEvery: ok %v, left out %d; want true 10", ok, n)
	}
	if ok, _ := l.allow(line(201)); ok {
		t.Fatal("second repeat in the same period logged")
	}
	for i := range maxRepeats + 1 { // the memory stays bounded
		l.allow("line " + letters(i))
	}
	if len(l.seen) == 0 || len(l.seen) > maxRepeats {
		t.Errorf("%d lines remembered, want <= %d", len(l.seen), maxRepeats)
	}
}

func TestShape(t *testing.T) {
	if got := shape("127.0.0.1:5 - rid:12 - x9y"); got != "#.#.#.#:# - rid:# - x#y" {
		t.Errorf("shape = %q", got)
	}
}

// letters spells i in base 26 with a..z: distinct lines without digits.
func letters(i int) string {
	s := ""
	for {
		s = string(rune('a'+i%26)) + s
		if i /= 26; i == 0 {
			return s
		}
	}
}
