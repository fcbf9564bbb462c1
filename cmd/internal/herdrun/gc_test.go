package herdrun

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/herdhq/herd/node/nodetest/wait"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {64 << 20, 100}, {GCHeadroom, 100}, {2 * GCHeadroom, 50}, {3 * GCHeadroom / 2, 66},
		{4 * GCHeadroom, 25}, {3 * GCHeadroom, 33}, {10 << 30, 25},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// gogc reads GOGC without changing it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// The tuner sets GOGC from the live heap and puts back what it found when
// stopped; it leaves a GOGC the environment set alone.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(7)
	defer debug.SetGCPercent(orig)
	stop := TuneGC(context.Background(), func(string) string { return "" })
	wait.For(t, "GOGC set by the tuner", func() bool { p := gogc(); return p >= MinGCPercent && p <= MaxGCPercent })
	stop()
	if got := gogc(); got != 7 {
		t.Errorf("after stop: GOGC %d, want the 7 it found", got)
	}
	stop = TuneGC(context.Background(), func(k string) string {
		if k == "GOGC" {
			return "7"
		}
		return ""
	})
	stop()
	if got := gogc(); got != 7 {
		t.Errorf("GOGC set in the environment: %d, want it left at 7", got)
	}
}
