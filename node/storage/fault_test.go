package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/nodetest/disk"
	"github.com/herdhq/herd/node/store"
)

// onDisk reports whether line is in any log segment or snapshot of dir.
func onDisk(t *testing.T, dir, line string) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logExt) || strings.HasSuffix(e.Name(), snapExt) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(line)) {
				return true
			}
		}
	}
	return false
}

// A full disk, then a read-only one, while the node runs: Append never
// fails the caller and Wait never hangs; Health says degraded with the
// reason; the records are counted and logged; and when the disk recovers
// storage resumes, and the records missed meanwhile are on disk.
func TestStorage_DiskFaults(t *testing.T) {
	mnt := disk.Tmpfs(t, 256<<10)
	dir := filepath.Join(mnt, "n1")
	st := store.New()
	logs := &logRecorder{}
	obs := &countObserver{}
	cfg := testConfig(t, dir, st)
	cfg.Fsync = FsyncAlways
	cfg.Logger = slog.New(logs)
	cfg.Observe = obs
	cfg.SnapshotMinBytes = 1 << 30 // snapshots only to repair
	s := open(t, cfg)

	i := 0
	appendOne := func() (string, error) {
		r := rec(t, "n1", fmt.Sprintf("client-%d", i), float64(i))
		i++
		st.Put(r)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.Append(r).Wait(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("Wait hung on a failing disk")
		}
		return r.Line, err
	}
	for range 100 {
		if _, err := appendOne(); err != nil {
			t.Fatalf("before the fault: %v", err)
		}
	}

	// Disk full.
	disk.Fill(t, filepath.Join(mnt, "filler"))
	var lost []string
	for len(lost) < 200 {
		line, err := appendOne()
		if err == nil {
			if len(lost) > 0 {
				t.Fatalf("record %q persisted on a full disk after a failure", line)
			}
			if i > 100000 {
				t.Fatal("appends never failed on a full disk")
			}
			continue
		}
		if !errors.Is(err, ErrNotPersisted) {
			t.Fatalf("Wait on a full disk = %v; want ErrNotPersisted", err)
		}
		lost = append(lost, line)
	}
	h := s.Health()
	if !h.Degraded || !strings.Contains(h.Reason, "no space left") || h.NotPersisted < uint64(len(lost)) || h.Since.IsZero() {
		t.Fatalf("health on a full disk = %+v", h)
	}
	if _, ok := logs.find("WARN storage degraded", "no space left"); !ok {
		t.Errorf("degraded not logged: %q", logs.lines)
	}
	if _, ok := logs.find("WARN records not persisted", "reason=disk_error"); !ok {
		t.Errorf("records not persisted not logged")
	}
	if n := obs.get(func(o *countObserver) int { return o.notPers[DropDiskError] }); n < len(lost) {
		t.Errorf("observer counted %d disk_error drops; want ≥ %d", n, len(lost))
	}
	for _, line := range lost[:5] {
		if onDisk(t, dir, line) {
			t.Fatalf("record %q reported lost is on disk", line)
		}
	}
	if st.Len() != i {
		t.Fatalf("store holds %d clients; the node must keep serving every one of %d from memory", st.Len(), i)
	}

	// Read-only: storage gave up its segment, so the remount goes through;
	// attempts to recover now meet EROFS.
	disk.Remount(t, mnt, true)
	waitFor(t, "health to name the read-only disk", func() bool {
		return strings.Contains(s.Health().Reason, "read-only file system")
	})
	for range 50 {
		line, err := appendOne()
		if !errors.Is(err, ErrNotPersisted) {
			t.Fatalf("Wait on a read-only disk = %v", err)
		}
		lost = append(lost, line)
	}

	// The disk recovers: storage resumes, and a snapshot holds what it missed.
	disk.Remount(t, mnt, false)
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery", func() bool { return !s.Health().Degraded })
	if _, ok := logs.find("INFO storage persisting again", "records_missed="); !ok {
		t.Errorf("recovery not logged")
	}
	for _, line := range lost {
		if !onDisk(t, dir, line) {
			t.Fatalf("record %q missed during the fault is not on disk after recovery", line)
		}
	}
	for range 100 {
		if _, err := appendOne(); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	want := contents(st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := reload(t, dir)
	sameContents(t, got, want)
}

// A snapshot that does not fit is not attempted (it would fill the disk
// and make the log fail too): the log keeps everything, health stays ok.
func TestStorage_SnapshotNeedsRoom(t *testing.T) {
	mnt := disk.Tmpfs(t, 256<<10)
	dir := filepath.Join(mnt, "n1")
	st := store.New()
	obs := &countObserver{}
	cfg := testConfig(t, dir, st)
	cfg.SnapshotMinBytes = 16 << 10
	cfg.Observe = obs
	s := open(t, cfg)
	// Most of the disk taken by something else; room for the log only.
	f, err := os.Create(filepath.Join(mnt, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 180<<10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i := range 600 { // ~40 KB of distinct clients: the snapshot needs about as much
		r := rec(t, "n1", fmt.Sprintf("client-%d", i), 1)
		st.Put(r)
		s.Append(r)
	}
	waitFor(t, "a snapshot attempt", func() bool { return obs.get(func(o *countObserver) int { return o.snapErrs }) > 0 })
	if h := s.Health(); h.Degraded || h.NotPersisted != 0 {
		t.Fatalf("health = %+v; a snapshot that does not fit must not degrade the log", h)
	}
	want := contents(st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(mnt, "other"))
	got, _ := reload(t, dir)
	sameContents(t, got, want)
}

// A node whose disk is read-only at start loads its records and starts
// degraded, serving from memory; when the disk becomes writable, storage
// persists again, with the records accepted meanwhile.
func TestStorage_StartReadOnly(t *testing.T) {
	mnt := disk.Tmpfs(t, 256<<10)
	dir := filepath.Join(mnt, "n1")
	writeRecordsIn(t, dir, 20, false)
	disk.Remount(t, mnt, true)

	st := store.New()
	cfg := testConfig(t, dir, st)
	s := open(t, cfg)
	if rp := s.Replayed(); rp.Records != 20 {
		t.Fatalf("replayed %d records from a read-only disk; want 20", rp.Records)
	}
	if h := s.Health(); !h.Degraded || !strings.Contains(h.Reason, "read-only file system") {
		t.Fatalf("health on a read-only disk = %+v", h)
	}
	r := rec(t, "n1", "late", 1)
	st.Put(r)
	s.Append(r)
	waitFor(t, "the late record counted as not persisted", func() bool { return s.Health().NotPersisted == 1 })

	disk.Remount(t, mnt, false)
	waitFor(t, "recovery", func() bool { return !s.Health().Degraded })
	if !onDisk(t, dir, r.Line) {
		t.Fatal("record accepted while read-only is not on disk after recovery")
	}
	want := contents(st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := reload(t, dir)
	sameContents(t, got, want)
}
