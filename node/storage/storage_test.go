package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/store"
)

func TestConfig_Validate(t *testing.T) {
	good := DefaultConfig()
	good.Dir = t.TempDir()
	good.Store = store.New()
	if err := good.Validate(); err != nil {
		t.Fatalf("default config with Dir and Store: %v", err)
	}
	for _, tc := range []struct {
		field string
		mod   func(c *Config)
	}{
		{"Dir", func(c *Config) { c.Dir = "" }},
		{"Fsync", func(c *Config) { c.Fsync = 7 }},
		{"Store", func(c *Config) { c.Store = nil }},
		{"QueueLen", func(c *Config) { c.QueueLen = 0 }},
		{"SnapshotMinBytes", func(c *Config) { c.SnapshotMinBytes = -1 }},
		{"RetryInterval", func(c *Config) { c.RetryInterval = 0 }},
		{"Logger", func(c *Config) { c.Logger = nil }},
		{"Observe", func(c *Config) { c.Observe = nil }},
	} {
		c := good
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate = %v; want ErrInvalidConfig naming the field", tc.field, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v; want ErrInvalidConfig", tc.field, err)
		}
	}
}

func TestParseFsync(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fsync
	}{{"always", FsyncAlways}, {"everysec", FsyncEverySec}, {"no", FsyncNo}} {
		got, err := ParseFsync(tc.in)
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseFsync(%q) = %v, %v", tc.in, got, err)
		}
		var f Fsync
		if err := f.UnmarshalText([]byte(tc.in)); err != nil || f != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.in, f, err)
		}
		if b, err := tc.want.MarshalText(); err != nil || string(b) != tc.in {
			t.Errorf("MarshalText(%v) = %q, %v", tc.want, b, err)
		}
	}
	for _, bad := range []string{"", "Always", "every_sec", "yes", "1"} {
		_, err := ParseFsync(bad)
		if !errors.Is(err, ErrBadFsync) || !strings.Contains(err.Error(), "always, everysec or no") {
			t.Errorf("ParseFsync(%q) = %v; want ErrBadFsync naming the allowed values", bad, err)
		}
	}
	if DefaultConfig().Fsync != FsyncEverySec {
		t.Error("default fsync is not everysec")
	}
}

// Every record accepted reaches the disk in every fsync mode, and a
// restart yields the newest record of each client.
func TestStorage_RoundTrip(t *testing.T) {
	for _, mode := range []Fsync{FsyncAlways, FsyncEverySec, FsyncNo} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			st := store.New()
			cfg := testConfig(t, dir, st)
			cfg.Fsync = mode
			s := open(t, cfg)
			for i := range 2000 {
				r := rec(t, "n1", fmt.Sprintf("c%d", i%300), float64(i))
				if st.Put(r) {
					if err := s.Append(r).Wait(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			got, rp := reload(t, dir)
			sameContents(t, got, contents(st))
			if rp.Records != 2000 || rp.FromLog != 2000 || rp.TornTails != 0 {
				t.Errorf("replay = %+v; want 2000 records from the log", rp)
			}
		})
	}
}

// Replaying a snapshot and the log after it gives each client its newest
// record, whatever order records were accepted in: an older record of a
// client in the log does not override a newer one in the snapshot.
func TestStorage_ReplayNewestWins(t *testing.T) {
	dir := t.TempDir()
	st := store.New()
	cfg := testConfig(t, dir, st)
	cfg.SnapshotOnClose = true
	s := open(t, cfg)
	put := func(r record.Record) {
		st.Put(r)
		s.Append(r)
	}
	// Newest first for c0 (the store accepts the newer from another origin).
	put(rec(t, "n1", "c0", 200))
	put(rec(t, "n2", "c1", 100))
	if err := s.Close(); err != nil { // snapshot: c0@200, c1@100
		t.Fatal(err)
	}
	if f := files(t, dir); len(f.snaps) != 1 || len(f.segs) != 0 {
		t.Fatalf("after SnapshotOnClose: %d snapshots, %d segments; want 1 and 0", len(f.snaps), len(f.segs))
	}

	// A second run appends an older c0 record (as a log reader would see
	// a record the store refused, it must never be appended, but replay
	// must not depend on that) and a newer c1 record.
	st2 := store.New()
	s2 := open(t, testConfig(t, dir, st2))
	if rp := s2.Replayed(); rp.FromSnapshot != 2 || rp.FromLog != 0 {
		t.Fatalf("replay = %+v; want 2 from the snapshot", rp)
	}
	s2.Append(rec(t, "n3", "c0", 150))
	newer := rec(t, "n3", "c1", 300)
	st2.Put(newer)
	s2.Append(newer)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	got, rp := reload(t, dir)
	if rp.FromSnapshot != 2 || rp.FromLog != 2 {
		t.Fatalf("replay = %+v; want 2 from the snapshot and 2 from the log", rp)
	}
	want := map[string]string{"c0": rec(t, "n1", "c0", 200).Line, "c1": newer.Line}
	sameContents(t, got, want)
}

// Snapshots taken while appenders run lose nothing: records appended
// after a snapshot began stay in the log that survives it. Disk use stays
// within twice the live records plus SnapshotMinBytes.
func TestStorage_SnapshotWhileAppending(t *testing.T) {
	dir := t.TempDir()
	st := store.New()
	obs := &countObserver{}
	cfg := testConfig(t, dir, st)
	cfg.SnapshotMinBytes = 32 << 10
	cfg.Observe = obs
	s := open(t, cfg)

	const writers, each, clients = 4, 20000, 2000
	var wg sync.WaitGroup
	var maxDisk, maxLive int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // sample disk use against the live records
		defer close(done)
		for {
			var live int64
			st.Range(func(r record.Record) bool {
				live += int64(frameHead + len(r.Line))
				return true
			})
			if d := diskBytes(t, dir); d > maxDisk {
				maxDisk, maxLive = d, live
			}
			select {
			case <-time.After(time.Millisecond):
			case <-stop:
				return
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec(t, fmt.Sprintf("n%d", w), fmt.Sprintf("c%d", (i*7+w)%clients), float64(i))
				if stored, ok := st.PutView(r); ok {
					s.Append(stored)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-done
	want := contents(st)
	waitFor(t, "snapshots to catch up", func() bool { return !s.wantSnapshot() })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Health().NotPersisted; n != 0 {
		t.Fatalf("%d records not persisted", n)
	}
	if n := obs.get(func(o *countObserver) int { return o.snapshots }); n < 3 {
		t.Fatalf("%d snapshots; the test needs several during the appends", n)
	}
	got, _ := reload(t, dir)
	sameContents(t, got, want)
	if f := files(t, dir); len(f.snaps) != 1 || len(f.segs) > 2 {
		t.Errorf("after snapshots: %d snapshots, %d segments; old files were not removed", len(f.snaps), len(f.segs))
	}
	// Appends at full speed can outrun a snapshot for a while (the log
	// grows while one is written); once they stop, the files come back
	// within twice the live records plus SnapshotMinBytes.
	var live int64
	for _, l := range want {
		live += int64(frameHead + len(l))
	}
	if limit := 2*live + cfg.SnapshotMinBytes; diskBytes(t, dir) > limit {
		t.Errorf("disk use %d bytes with %d live: above %d", diskBytes(t, dir), live, limit)
	}
	t.Logf("snapshots %d, peak disk %d bytes with %d live", obs.get(func(o *countObserver) int { return o.snapshots }), maxDisk, maxLive)
}

// With FsyncAlways a Ticket is released only after the fsync that covers
// its record, and concurrent appenders share fsyncs (group commit).
func TestTicket_WaitAlways(t *testing.T) {
	dir := t.TempDir()
	st := store.New()
	obs := &countObserver{}
	cfg := testConfig(t, dir, st)
	cfg.Fsync = FsyncAlways
	cfg.Observe = obs
	s := open(t, cfg)

	// One appender: each Wait returns after the fsync that covered its
	// record, and not before.
	for i := range 50 {
		r := rec(t, "n1", fmt.Sprintf("seq%d", i), 1)
		st.Put(r)
		if err := s.Append(r).Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := obs.get(func(o *countObserver) int { return o.synced }); n != i+1 {
			t.Fatalf("Wait for record %d returned with %d records fsynced", i+1, n)
		}
		if i%10 == 0 && !onDisk(t, dir, r.Line) {
			t.Fatalf("record %q not in the log after Wait", r.Line)
		}
	}

	// Concurrent appenders share fsyncs.
	const workers, each = 32, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec(t, "n1", fmt.Sprintf("w%dc%d", w, i), 1)
				st.Put(r)
				if err := s.Append(r).Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	syncs := obs.get(func(o *countObserver) int { return o.syncs })
	synced := obs.get(func(o *countObserver) int { return o.synced })
	if synced != 50+workers*each {
		t.Fatalf("fsyncs made %d records durable; want %d", synced, 50+workers*each)
	}
	if syncs-50 >= workers*each/2 {
		t.Fatalf("%d fsyncs for %d records: no group commit", syncs, synced)
	}
	t.Logf("%d records in %d fsyncs (%.1f per fsync)", synced, syncs, float64(synced)/float64(syncs))

	// everysec and no do not hold replies.
	for _, mode := range []Fsync{FsyncEverySec, FsyncNo} {
		cfg := testConfig(t, t.TempDir(), store.New())
		cfg.Fsync = mode
		s := open(t, cfg)
		if tk := s.Append(rec(t, "n1", "c", 1)); tk.c != nil {
			t.Errorf("%v: Append returned a Ticket to wait on", mode)
		}
	}
}

// A ticket for a record Append could not queue is released at once with
// ErrNotPersisted, Health is degraded until a snapshot holds the record,
// and the record is on disk after a restart.
func TestStorage_QueueFull(t *testing.T) {
	dir := t.TempDir()
	st := store.New()
	logs := &logRecorder{}
	obs := &countObserver{}
	cfg := testConfig(t, dir, st)
	cfg.Fsync = FsyncAlways
	cfg.QueueLen = 1
	cfg.Logger = slog.New(logs)
	cfg.Observe = obs
	s := open(t, cfg)

	var dropped error
	for i := 0; dropped == nil; i++ {
		if i > 1_000_000 {
			t.Fatal("a one-record queue never filled")
		}
		r := rec(t, "n1", fmt.Sprintf("c%d", i), 1)
		st.Put(r)
		tk := s.Append(r)
		select {
		case <-tk.c.done:
			dropped = tk.c.err
		default:
		}
	}
	if !errors.Is(dropped, ErrNotPersisted) {
		t.Fatalf("dropped ticket: %v", dropped)
	}
	if obs.get(func(o *countObserver) int { return o.notPers[DropQueueFull] }) == 0 {
		waitFor(t, "queue_full counted", func() bool {
			return obs.get(func(o *countObserver) int { return o.notPers[DropQueueFull] }) > 0
		})
	}
	waitFor(t, "degraded reported", func() bool {
		_, ok := logs.find("storage degraded", "write queue full")
		return ok
	})
	waitFor(t, "a snapshot to repair the gap", func() bool { return !s.Health().Degraded })
	if _, ok := logs.find("storage persisting again"); !ok {
		t.Error("recovery not logged")
	}
	want := contents(st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := reload(t, dir)
	sameContents(t, got, want)
}

func TestStorage_Lifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, store.New())
	cfg.Fsync = FsyncAlways
	s := open(t, cfg)
	if err := s.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v; want ErrStarted", err)
	}
	other, err := New(testConfig(t, dir, store.New()))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); !errors.Is(err, ErrLocked) {
		t.Errorf("Start on a directory in use = %v; want ErrLocked", err)
	}
	if _, err := Salvage(dir, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("Salvage on a directory in use = %v; want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec(t, "n1", "c", 1)).Wait(context.Background()); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotPersisted) {
		t.Errorf("Wait after Close = %v; want ErrNotPersisted and ErrClosed", err)
	}
	if s.Health().NotPersisted != 1 {
		t.Errorf("Append after Close not counted: %+v", s.Health())
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v; want ErrClosed", err)
	}
	// The lock is released: another Storage can take the directory.
	if err := other.Start(context.Background()); err != nil {
		t.Errorf("Start once the directory is free: %v", err)
	}
	other.Close()

	// Close before Start releases Tickets of early Appends.
	early, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tk := early.Append(rec(t, "n1", "c", 1))
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tk.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait for an Append before Start after Close = %v; want ErrClosed", err)
	}
}
