package logbuf

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Writers on many goroutines and a reader at the same time: the race
// detector sees no race and nothing written is lost.
func TestBuffer_Write(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x\n"))
				b.WriteString("y\n")
				_ = b.Contains("z")
			}
		})
	}
	wg.Wait()
	if got := b.Count("x\n"); got != 800 {
		t.Errorf("Count(x) = %d, want 800", got)
	}
	if got := b.Count("y\n"); got != 800 {
		t.Errorf("Count(y) = %d, want 800", got)
	}
	if b.Contains("z") {
		t.Error("Contains(z) = true, want false")
	}
	b.Reset()
	if s := b.String(); s != "" {
		t.Errorf("after Reset String() = %q, want empty", s)
	}
}

// The logger drops what is below its level.
func TestBuffer_Logger(t *testing.T) {
	var b Buffer
	log := b.Logger(slog.LevelInfo)
	log.Debug("hidden")
	log.Info("shown", "k", 1)
	if b.Contains("hidden") {
		t.Errorf("debug line written at info level:\n%s", b.String())
	}
	if !b.Contains("level=INFO msg=shown k=1") || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("want one info line, got:\n%s", b.String())
	}
}
