package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/store"
)

// benchRecords returns n records of distinct clients.
func benchRecords(n int, tm int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Build("Hands", 263873386, fmt.Appendf(nil, "client-%07d", i),
			[]byte("+34.068930-118.445127"), fmt.Appendf(nil, "%d.520023007", 1700000000+tm))
	}
	return recs
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConfig(b *testing.B, dir string, st Store, mode Fsync, obs Observer) Config {
	cfg := DefaultConfig()
	cfg.Dir, cfg.Store, cfg.Fsync, cfg.Observe = dir, st, mode, obs
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.SnapshotMinBytes = 1 << 40 // measure the log alone
	return cfg
}

// reportStorage adds CPU per record, fsyncs and drops to a benchmark.
func reportStorage(b *testing.B, cpu time.Duration, obs *countObserver, s *Storage) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if n := obs.get(func(o *countObserver) int { return o.syncs }); n > 0 {
		b.ReportMetric(float64(obs.get(func(o *countObserver) int { return o.synced }))/float64(n), "records/fsync")
		b.ReportMetric(float64(obs.get(func(o *countObserver) int { return int(o.syncTime.Microseconds()) }))/float64(n), "fsync-µs")
	}
	b.ReportMetric(float64(s.Health().NotPersisted), "dropped")
}

// Append's cost and the log's throughput per fsync mode: one appender (a
// connection pipelining IAMATs) waits on every 256th Ticket, as it would
// before flushing a batch of replies. Timing includes writing everything
// (Close).
func BenchmarkStorage_Append(b *testing.B) {
	recs := benchRecords(1<<14, 0)
	for _, mode := range []Fsync{FsyncAlways, FsyncEverySec, FsyncNo} {
		b.Run(mode.String(), func(b *testing.B) {
			obs := &countObserver{}
			s, err := New(benchConfig(b, b.TempDir(), store.New(), mode, obs))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				t := s.Append(recs[i&(len(recs)-1)])
				if i&255 == 255 {
					t.Wait(context.Background())
					// A node cannot outrun the writer for long (a record
					// costs it far more than the log does); back off rather
					// than measure drops.
					for s.queued() > s.cfg.QueueLen/2 {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			reportStorage(b, cpuTime()-cpu, obs, s)
		})
	}
}

// Group commit with FsyncAlways: conns goroutines each append a record and
// wait for it, as connections holding each reply until its fsync.
func BenchmarkStorage_GroupCommit(b *testing.B) {
	recs := benchRecords(1<<14, 0)
	for _, conns := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			obs := &countObserver{}
			s, err := New(benchConfig(b, b.TempDir(), store.New(), FsyncAlways, obs))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := c; i < b.N; i += conns {
						if err := s.Append(recs[i&(len(recs)-1)]).Wait(context.Background()); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			reportStorage(b, cpuTime()-cpu, obs, s)
		})
	}
}

// queued is the queue's length.
func (s *Storage) queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.recs)
}

// discardStore counts Puts: replay alone, without filling a store.
type discardStore struct{ n atomic.Int64 }

func (d *discardStore) PutView(r record.Record) (record.Record, bool) { d.n.Add(1); return r, true }
func (d *discardStore) Reserve(int)                                   {}
func (d *discardStore) Range(func(record.Record) bool)                {}

// Restart with 1M records: replay of a snapshot of 1M clients, and of
// that snapshot plus a log of 1M updates (the most a log holds before the
// next snapshot), into nothing (replay alone) and into node/store (the
// store fill a node's restart pays). Also reports disk bytes per record.
func BenchmarkStorage_Replay(b *testing.B) {
	const n = 1_000_000
	snapDir, logDir := b.TempDir(), b.TempDir()
	var snapBytes int64
	for _, dir := range []string{snapDir, logDir} {
		st := store.New()
		cfg := benchConfig(b, dir, st, FsyncNo, NopObserver{})
		cfg.SnapshotOnClose = true
		s := open(b, cfg)
		for _, r := range benchRecords(n, 0) {
			st.Put(r)
			s.Append(r)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		snapBytes = diskBytes(b, dir)
	}
	{ // a log of 1M updates after the snapshot
		st := store.New()
		s := open(b, benchConfig(b, logDir, st, FsyncNo, NopObserver{}))
		for _, r := range benchRecords(n, 1) {
			st.Put(r)
			s.Append(r)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	logBytes := diskBytes(b, logDir) - snapBytes
	for _, tc := range []struct {
		name    string
		dir     string
		records int
	}{{"snapshot=1M", snapDir, n}, {"snapshot=1M+log=1M", logDir, 2 * n}} {
		for _, into := range []string{"discard", "store"} {
			b.Run(tc.name+"/"+into, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var st Store = &discardStore{}
					if into == "store" {
						st = store.New()
					}
					s, err := New(benchConfig(b, tc.dir, st, FsyncNo, NopObserver{}))
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Start(context.Background()); err != nil {
						b.Fatal(err)
					}
					if got := s.Replayed().Records; got != tc.records {
						b.Fatalf("replayed %d; want %d", got, tc.records)
					}
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(tc.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(snapBytes)/n, "snapshot-B/record")
				b.ReportMetric(float64(logBytes)/n, "log-B/record")
			})
		}
	}
}
