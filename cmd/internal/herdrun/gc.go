package herdrun

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// A herd process tunes its garbage collector unless the GOGC environment
// variable says otherwise. The record store holds no pointers per record
// (node/store), so a collection costs little whatever the number of
// clients, and what Go's GOGC=100 costs is memory: the heap grows to twice
// the live data between collections. With few records that headroom is
// small and frequent collections would cost CPU instead (GOGC=50 took GC
// from 3% to 10% of the herd's CPU at 100,000 clients); with a million
// clients on each of five nodes it is half a gigabyte. So GOGC stays 100
// while the live heap is below GCHeadroom and falls as it grows, so that
// the headroom stays about GCHeadroom, down to GOGC=25 at 1 GiB: a herd of
// five nodes holding a million clients each has about 900 MB live, and at
// GOGC=50 its RSS was 345 B per record after a saturated run (BENCHMARKS.md,
// 2026-12-01). GOMEMLIMIT, when set, still applies.
const (
	GCHeadroom   = 256 << 20
	MinGCPercent = 25
	MaxGCPercent = 100
	// gcTunePeriod is how often the live heap is read.
	gcTunePeriod = 2 * time.Second
)

// gcPercent is the GOGC for a live heap of live bytes.
func gcPercent(live uint64) int {
	if live == 0 {
		return MaxGCPercent
	}
	p := uint64(MaxGCPercent) * GCHeadroom / live
	return int(min(max(p, MinGCPercent), MaxGCPercent))
}

// TuneGC keeps GOGC at gcPercent of the live heap until ctx ends or stop
// is called, unless getenv("GOGC") is set. stop waits for the tuner and
// puts back the GOGC it found (several herds may run in one test process).
func TuneGC(ctx context.Context, getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	orig := debug.SetGCPercent(MaxGCPercent)
	debug.SetGCPercent(orig)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(gcTunePeriod)
		defer t.Stop()
		last := -1
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				if p := gcPercent(sample[0].Value.Uint64()); p != last {
					debug.SetGCPercent(p)
					last = p
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		debug.SetGCPercent(orig)
	}
}
