package antientropy

import (
	"testing"
	"time"
)

func TestConfig_RepairBound(t *testing.T) {
	def := DefaultConfig()
	off := def
	off.Interval = 0
	noJitter := def
	noJitter.Jitter = 0
	for _, tt := range []struct {
		name string
		c    Config
		want time.Duration
	}{
		// 3 s settle age + 1 s rounding + 6 s (5 s + 20%) + 3 × 2 s replies.
		{"default", def, 16 * time.Second},
		{"no jitter", noJitter, 15 * time.Second},
		{"no periodic rounds", off, 0},
	} {
		if got := tt.c.RepairBound(); got != tt.want {
			t.Errorf("%s: RepairBound() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
