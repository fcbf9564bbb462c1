package herdrun

import (
	"context"
	"runtime/debug"
	"testing"

	"github.com/herdhq/herd/node/nodetest/wait"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {64 << 20, 100}, {GCHeadroom, 100}, {2 * GCHeadroom, 50}, {3 * GCHeadroom / 2, 66}, {10 << 30, 50},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// The tuner sets GOGC from the live heap, and leaves a GOGC the
// environment set alone.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(7)
	defer debug.SetGCPercent(orig)
	stop := TuneGC(context.Background(), func(string) string { return "" })
	wait.For(t, "GOGC set by the tuner", func() bool {
		p := debug.SetGCPercent(-2)
		debug.SetGCPercent(p)
		return p >= MinGCPercent && p <= MaxGCPercent
	})
	stop()
	debug.SetGCPercent(7)
	stop = TuneGC(context.Background(), func(k string) string {
		if k == "GOGC" {
			return "7"
		}
		return ""
	})
	stop()
	if got := debug.SetGCPercent(7); got != 7 {
		t.Errorf("GOGC set in the environment: percent %d, want it left at 7", got)
	}
}
