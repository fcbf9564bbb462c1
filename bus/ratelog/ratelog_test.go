package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The bucket lets Bucket lines through at once, then Rate a second, and
// the first line after a drop says how many were dropped.
func TestLimiter_bucket(t *testing.T) {
	const bucket, rate = 200, 20
	now := time.Unix(0, 0)
	l := New(nil, Config{Burst: 1 << 30, Rate: rate, Bucket: bucket, Now: func() time.Time { return now }})
	for i := range bucket {
		if ok, _, _ := l.Allow("x"); !ok {
			t.Fatalf("line %d of the bucket refused", i)
		}
	}
	for range 5 {
		if ok, _, _ := l.Allow("x"); ok {
			t.Fatal("line beyond the bucket allowed")
		}
	}
	now = now.Add(time.Second / rate)
	if ok, _, dropped := l.Allow("x"); !ok || dropped != 5 {
		t.Fatalf("after 1/rate: ok %v dropped %d, want true 5", ok, dropped)
	}
	if ok, _, _ := l.Allow("x"); ok {
		t.Fatal("second line after 1/rate allowed")
	}
	now = now.Add(time.Hour) // refills to the bucket, no further
	for range bucket {
		if ok, _, _ := l.Allow("x"); !ok {
			t.Fatal("refilled bucket refused")
		}
	}
	if ok, _, _ := l.Allow("x"); ok {
		t.Fatal("bucket grew past its size")
	}
}

// A kind is logged Burst times, then once per Every with the count of the
// lines left out; other kinds are not held back; memory stays bounded.
func TestLimiter_kinds(t *testing.T) {
	const burst, every, maxKinds = 5, 30 * time.Second, 1024
	now := time.Unix(0, 0)
	l := New(nil, Config{Burst: burst, Every: every, MaxKinds: maxKinds, Now: func() time.Time { return now }})
	for i := range burst {
		if ok, _, _ := l.Allow("auth"); !ok {
			t.Fatalf("line %d of the burst left out", i)
		}
	}
	for range 10 {
		if ok, _, _ := l.Allow("auth"); ok {
			t.Fatal("repeat after the burst logged before Every")
		}
	}
	if ok, _, _ := l.Allow("a different line"); !ok {
		t.Fatal("a different kind was left out")
	}
	now = now.Add(every)
	if ok, n, _ := l.Allow("auth"); !ok || n != 10 {
		t.Fatalf("after Every: ok %v, left out %d; want true 10", ok, n)
	}
	if ok, _, _ := l.Allow("auth"); ok {
		t.Fatal("second repeat in the same period logged")
	}
	for i := range maxKinds + 1 {
		l.Allow(fmt.Sprint("line ", i))
	}
	if n := l.Kinds(); n == 0 || n > maxKinds {
		t.Errorf("%d kinds remembered, want 1..%d", n, maxKinds)
	}
}

// Log writes the line with the count of those left out, and only once per
// Every for one message; a disabled level costs nothing.
func TestLimiter_Log(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), cfg)
	for range 4 {
		l.Log(slog.LevelWarn, "limit hit", "remote", "x")
	}
	l.Log(slog.LevelDebug, "not enabled")
	now = now.Add(time.Second)
	l.Log(slog.LevelWarn, "limit hit", "remote", "y")
	out := buf.String()
	if got := strings.Count(out, "limit hit"); got != 2 {
		t.Fatalf("logged %d times, want 2:\n%s", got, out)
	}
	if !strings.Contains(out, "remote=y "+AttrSuppressed+"=3") {
		t.Errorf("second line does not count the 3 left out:\n%s", out)
	}
	if strings.Contains(out, "not enabled") || l.Kinds() != 1 {
		t.Errorf("a disabled level was logged or remembered:\n%s", out)
	}
}
