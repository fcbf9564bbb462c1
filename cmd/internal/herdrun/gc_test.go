package herdrun

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	TuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != DefaultGOGC {
		t.Errorf("GOGC unset: percent %d, want %d", got, DefaultGOGC)
	}
	TuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: percent %d, want it left at 100", got)
	}
}
