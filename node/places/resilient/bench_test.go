package resilient

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/google"
	"github.com/herdhq/herd/node/places/googlefake"
)

// peakMemory samples the heap while a run goes on. ReadMemStats stops
// the world, which with ~10k goroutines is not free: sampling every 5 ms
// doubled the upstream latency seen, so it samples every 50 ms.
type peakMemory struct {
	stop     chan struct{}
	done     chan struct{}
	heap     atomic.Uint64 // peak HeapInuse, bytes
	routines atomic.Int64  // peak goroutines
}

func startPeak() *peakMemory {
	p := &peakMemory{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.heap.Load() {
				p.heap.Store(ms.HeapInuse)
			}
			if g := int64(runtime.NumGoroutine()); g > p.routines.Load() {
				p.routines.Store(g)
			}
			select {
			case <-t.C:
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *peakMemory) end() { close(p.stop); <-p.done }

// BenchmarkProvider_Nearby_5000 runs 5,000 concurrent searches per op
// through resilient + google (Places API (New)) against a fake answering
// after 200 ms. "distinct" searches 5,000 different points, so only
// MaxConcurrent bounds throughput (5000 / MaxConcurrent × 200 ms at best);
// "dup10" searches 500 points 10 times each, so collapsing saves 90%.
func BenchmarkProvider_Nearby_5000(b *testing.B) {
	const searches = 5000
	for _, bc := range []struct {
		name          string
		points        int
		maxConcurrent int
	}{
		{"distinct/conc=64", 5000, 64},
		{"distinct/conc=512", 5000, 512},
		{"dup10/conc=64", 500, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := googlefake.NewPlaces(googlefake.Options{APIKey: testKey, Latency: 200 * time.Millisecond})
			defer f.Close()
			gcfg := google.DefaultConfig()
			gcfg.APIKey, gcfg.BaseURL = testKey, f.URL()
			up, err := google.NewPlaces(gcfg)
			if err != nil {
				b.Fatal(err)
			}
			defer up.Close()
			cfg := DefaultConfig()
			cfg.MaxConcurrent = bc.maxConcurrent
			p, err := New(up, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			peak := startPeak()
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for j := range searches {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Each op searches new points, so the cache never answers.
						q := places.Query{Lat: float64(i%80) + float64(j%bc.points)/10000, Lng: 10, RadiusM: 1000, Limit: 20}
						r, err := p.Nearby(context.Background(), q)
						if err != nil || r.Status != places.StatusOK {
							failed.Add(1)
						}
					}()
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			peak.end()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(searches*b.N)/1024, "alloc_KiB/search")
			if n := failed.Load(); n > 0 {
				b.Errorf("%d searches failed", n)
			}
			b.ReportMetric(float64(searches*b.N)/elapsed.Seconds(), "searches/s")
			b.ReportMetric(float64(f.Calls())/float64(b.N), "upstream_calls/op")
			b.ReportMetric(float64(peak.heap.Load())/(1<<20), "peak_heap_MiB")
			b.ReportMetric(float64(peak.routines.Load()), "peak_goroutines")
			st := p.Stats()
			var attempts uint64
			for _, n := range st.Upstream {
				attempts += n
			}
			if attempts > 0 {
				b.ReportMetric(float64(st.UpstreamLatency/time.Duration(attempts))/float64(time.Millisecond), "upstream_ms/call")
			}
		})
	}
}
