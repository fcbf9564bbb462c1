package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/store"
)

// writeRecords runs a Storage on a new directory that accepts n records
// (clients c0..c<n-1>) and closes it; it returns the directory.
func writeRecords(t *testing.T, n int, snapshotOnClose bool) string {
	t.Helper()
	return writeRecordsIn(t, t.TempDir(), n, snapshotOnClose)
}

func writeRecordsIn(t testing.TB, dir string, n int, snapshotOnClose bool) string {
	t.Helper()
	st := store.New()
	cfg := testConfig(t, dir, st)
	cfg.SnapshotOnClose = snapshotOnClose
	s := open(t, cfg)
	for i := range n {
		r := rec(t, "n1", fmt.Sprintf("c%d", i), float64(i))
		st.Put(r)
		s.Append(r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// onlyFile returns the path and bytes of dir's one file named *ext.
func onlyFile(t testing.TB, dir, ext string) (string, []byte) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	if len(m) != 1 {
		t.Fatalf("%d %s files in %s; want 1", len(m), ext, dir)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return m[0], b
}

// frameStarts returns the offset of every frame in a valid file, and the
// file's length last.
func frameStarts(t *testing.T, b []byte) []int64 {
	t.Helper()
	fr := newFileReader(bytesReader(b), nil)
	fr.fill(headerLen)
	fr.skip(headerLen)
	var offs []int64
	for {
		_, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			return append(offs, int64(len(b)))
		}
		if err != nil {
			t.Fatalf("test file is not valid: %v", err)
		}
		offs = append(offs, off)
	}
}

type byteReader struct{ b []byte }

func bytesReader(b []byte) *byteReader { return &byteReader{b} }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// startDir starts and closes a Storage on dir with logs kept in logs.
func startDir(t *testing.T, dir string, logs *logRecorder) (map[string]string, Replay, error) {
	t.Helper()
	st := store.New()
	cfg := testConfig(t, dir, st)
	if logs != nil {
		cfg.Logger = slog.New(logs)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(context.Background()); err != nil {
		return nil, Replay{}, err
	}
	rp := s.Replayed()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return contents(st), rp, nil
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// A crash mid-write leaves the last entry torn: cut at every byte offset
// of it, or with any byte of it changed (nothing valid after), Start cuts
// it, logs file and offset, and keeps every entry before.
func TestStorage_TornTail(t *testing.T) {
	const n = 5
	src := writeRecords(t, n, false)
	path, data := onlyFile(t, src, logExt)
	offs := frameStarts(t, data) // n records, the seal, the end
	if len(offs) != n+2 {
		t.Fatalf("%d frames; want %d records and a seal", len(offs)-1, n)
	}
	last, end := offs[n-1], offs[n] // the last record's frame; the seal is dropped as by a crash
	name := filepath.Base(path)

	check := func(t *testing.T, b []byte) {
		t.Helper()
		dir := t.TempDir()
		seg := filepath.Join(dir, name)
		writeFile(t, seg, b)
		logs := &logRecorder{}
		got, rp, err := startDir(t, dir, logs)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if len(got) != n-1 || got[fmt.Sprintf("c%d", n-1)] != "" || rp.TornTails != 1 {
			t.Fatalf("replayed %d clients (torn tails %d); want the %d before the torn entry", len(got), rp.TornTails, n-1)
		}
		if _, ok := logs.find("cut a torn tail", "file="+seg, fmt.Sprintf("offset=%d", last)); !ok {
			t.Fatalf("no log line naming %s and offset %d: %q", seg, last, logs.lines)
		}
		// Cut and sealed: the next start finds a clean file.
		_, rp, err = startDir(t, dir, nil)
		if err != nil || rp.TornTails != 0 || rp.Records != n-1 {
			t.Fatalf("second start: %+v, %v", rp, err)
		}
	}
	t.Run("cut", func(t *testing.T) {
		for cut := last + 1; cut < end; cut++ {
			check(t, data[:cut])
		}
	})
	t.Run("bad byte", func(t *testing.T) {
		for i := last; i < end; i++ {
			b := append([]byte(nil), data[:end]...)
			b[i] ^= 0x5a
			check(t, b)
		}
	})
	t.Run("zeros", func(t *testing.T) { // a power cut can leave zeroed blocks
		b := append(append([]byte(nil), data[:last]...), make([]byte, 4096)...)
		check(t, b)
	})
}

// A bad byte with valid entries after it is an error naming the file and
// offset; Salvage keeps every other record and moves the file aside.
func TestStorage_FlippedByte(t *testing.T) {
	const n, bad = 10, 4
	for _, kind := range []struct {
		name string
		ext  string
		snap bool
	}{{"segment", logExt, false}, {"snapshot", snapExt, true}} {
		for _, at := range []struct {
			name string
			pos  func(off int64) int64
		}{
			{"length", func(off int64) int64 { return off + 1 }},
			{"checksum", func(off int64) int64 { return off + 5 }},
			{"payload", func(off int64) int64 { return off + frameHead + 10 }},
		} {
			t.Run(kind.name+"/"+at.name, func(t *testing.T) {
				dir := writeRecords(t, n, kind.snap)
				path, data := onlyFile(t, dir, kind.ext)
				offs := frameStarts(t, data)
				p, _, err := decodeFrame(data[offs[bad]:])
				if err != nil {
					t.Fatal(err)
				}
				lost, _ := record.Parse(p) // a snapshot is in the store's order
				data[at.pos(offs[bad])] ^= 0x01
				writeFile(t, path, data)

				_, _, err = startDir(t, dir, nil)
				var ce *CorruptError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
					t.Fatalf("Start = %v; want a CorruptError", err)
				}
				if ce.File != path || ce.Offset != offs[bad] {
					t.Fatalf("error names %s at %d; want %s at %d", ce.File, ce.Offset, path, offs[bad])
				}
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprint(offs[bad])) {
					t.Fatalf("message %q does not name the file and offset", msg)
				}

				sv, err := Salvage(dir, nil)
				if err != nil || len(sv) != 1 {
					t.Fatalf("Salvage = %+v, %v", sv, err)
				}
				if sv[0].Kept != n-1 || len(sv[0].Skipped) != 1 || sv[0].Skipped[0].Offset != offs[bad] ||
					sv[0].Skipped[0].Length != offs[bad+1]-offs[bad] {
					t.Fatalf("salvaged %+v; want %d kept, [%d,%d) skipped", sv[0], n-1, offs[bad], offs[bad+1])
				}
				if orig, err := os.ReadFile(sv[0].DamagedAs); err != nil || string(orig) != string(data) ||
					sv[0].DamagedAs != fmt.Sprintf("%s.damaged-%d", path, offs[bad]) {
					t.Fatalf("original kept as %s: %v", sv[0].DamagedAs, err)
				}
				got, _, err := startDir(t, dir, nil)
				if err != nil {
					t.Fatalf("Start after Salvage: %v", err)
				}
				if len(got) != n-1 || got[lost.Client()] != "" {
					t.Fatalf("after salvage %d clients; want all but %s", len(got), lost.Client())
				}
				if sv, err := Salvage(dir, nil); err != nil || len(sv) != 0 {
					t.Fatalf("second Salvage = %+v, %v; want nothing to do", sv, err)
				}
			})
		}
	}
}

// A truncated snapshot is a clear error naming the file; Salvage keeps
// the records before the cut.
func TestStorage_TruncatedSnapshot(t *testing.T) {
	const n = 50
	src := writeRecords(t, n, true)
	path, data := onlyFile(t, src, snapExt)
	offs := frameStarts(t, data) // n records, end entry, file end
	name := filepath.Base(path)
	for _, tc := range []struct {
		name string
		cut  int64
		kept int
	}{
		{"in header", 8, 0},
		{"in an entry", offs[10] + 5, 10},
		{"at an entry boundary", offs[10], 10},
		{"before the end entry", offs[n], n},
		{"in the end entry", offs[n] + 3, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			snap := filepath.Join(dir, name)
			writeFile(t, snap, data[:tc.cut])
			_, _, err := startDir(t, dir, nil)
			var ce *CorruptError
			if !errors.Is(err, ErrTruncatedSnapshot) || !errors.As(err, &ce) || ce.File != snap {
				t.Fatalf("Start = %v; want ErrTruncatedSnapshot naming %s", err, snap)
			}
			sv, err := Salvage(dir, nil)
			if err != nil || len(sv) != 1 || sv[0].Kept != tc.kept {
				t.Fatalf("Salvage = %+v, %v; want %d kept", sv, err, tc.kept)
			}
			got, _, err := startDir(t, dir, nil)
			if err != nil || len(got) != tc.kept {
				t.Fatalf("after Salvage: %d records, %v; want %d", len(got), err, tc.kept)
			}
		})
	}
}

// Salvage, run as root (as the node's error says) on the directory of a
// node that runs as another user (the systemd unit's): every file it
// writes keeps that user, so the node can open them at its next start.
func TestStorage_SalvageKeepsOwner(t *testing.T) {
	requireRoot(t)
	const nobody = 65534 // any user but root
	src := writeRecords(t, 20, true)
	path, data := onlyFile(t, src, snapExt)
	offs := frameStarts(t, data)
	dir := t.TempDir()
	snap := filepath.Join(dir, filepath.Base(path))
	writeFile(t, snap, data[:offs[10]+5])
	for _, p := range []string{dir, snap} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	sv, err := Salvage(dir, nil)
	if err != nil || len(sv) != 1 || sv[0].Kept != 10 {
		t.Fatalf("Salvage = %+v, %v; want 10 kept", sv, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s after Salvage: owner %d:%d, want the node's %d:%d", e.Name(), st.Uid, st.Gid, nobody, nobody)
		}
	}
	if len(ents) != 3 { // the salvaged snapshot, the damaged original, LOCK
		t.Errorf("after Salvage the directory holds %d files, want 3", len(ents))
	}
}

// requireRoot skips a test that needs root where it is not, unless
// HERD_REQUIRE_ROOT=1 (CI) makes that a failure.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("HERD_REQUIRE_ROOT") == "1" {
		t.Fatal("HERD_REQUIRE_ROOT=1 but not root")
	}
	t.Skip("needs root (to give files to another user); set HERD_REQUIRE_ROOT=1 to fail instead")
}

// Damage Start must not guess about: a bad header, bytes after a seal.
// A log segment given up after a disk error (unsealed, torn, with a newer
// segment after it) is cut like a last segment.
func TestStorage_SegmentRules(t *testing.T) {
	const n = 6
	src := writeRecords(t, n, false)
	path, data := onlyFile(t, src, logExt)
	name := filepath.Base(path)
	offs := frameStarts(t, data)
	seq, _ := parseSeq(name, logExt)
	next := segmentName(seq + 1)

	t.Run("bad header", func(t *testing.T) {
		dir := t.TempDir()
		b := append([]byte(nil), data...)
		b[2] = 'X'
		writeFile(t, filepath.Join(dir, name), b)
		_, _, err := startDir(t, dir, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Offset != 0 {
			t.Fatalf("Start = %v; want ErrCorrupt at offset 0", err)
		}
		sv, err := Salvage(dir, nil)
		if err != nil || len(sv) != 1 || sv[0].Kept != n {
			t.Fatalf("Salvage = %+v, %v; want all %d kept", sv, err, n)
		}
		if got, _, err := startDir(t, dir, nil); err != nil || len(got) != n {
			t.Fatalf("after Salvage: %d, %v", len(got), err)
		}
	})
	t.Run("bytes after seal", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, name), append(append([]byte(nil), data...), 1, 2, 3))
		if _, _, err := startDir(t, dir, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Start = %v; want ErrCorrupt", err)
		}
	})
	t.Run("torn segment given up", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, name), data[:offs[n-1]+3]) // unsealed, torn
		other := writeRecords(t, 1, false)                         // c0 again, as a newer segment
		_, b := onlyFile(t, other, logExt)
		writeFile(t, filepath.Join(dir, next), b)
		got, rp, err := startDir(t, dir, nil)
		if err != nil || rp.TornTails != 1 || len(got) != n-1 {
			t.Fatalf("Start: %d records, %+v, %v; want %d and one torn tail", len(got), rp, err, n-1)
		}
	})
	t.Run("torn header", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, name), data)
		writeFile(t, filepath.Join(dir, next), data[:7])
		got, rp, err := startDir(t, dir, nil)
		if err != nil || rp.TornTails != 1 || len(got) != n {
			t.Fatalf("Start: %d records, %+v, %v", len(got), rp, err)
		}
	})
}

// An entry whose checksum is good but which is not an AT record (written
// by something else, or damaged before it was framed) fails the load
// with a CorruptError naming the first such entry, though workers parse
// the records in batches at once: with two bad entries in different
// batches, the earlier is named, and a segment is left as it was (not
// sealed).
func TestStorage_EntryNotARecord(t *testing.T) {
	const n = 5 * batchRecords
	for _, kind := range []struct {
		name string
		ext  string
		snap bool
	}{{"segment", logExt, false}, {"snapshot", snapExt, true}} {
		t.Run(kind.name, func(t *testing.T) {
			dir := writeRecords(t, n, kind.snap)
			path, data := onlyFile(t, dir, kind.ext)
			offs := frameStarts(t, data)
			first, second := offs[batchRecords+7], offs[3*batchRecords+1]
			for _, off := range []int64{second, first} {
				_, fn, err := decodeFrame(data[off:])
				if err != nil {
					t.Fatal(err)
				}
				f := data[off : off+int64(fn)]
				copy(f[frameHead:], "AT ")
				for i := frameHead + 3; i < len(f); i++ {
					f[i] = 'x'
				}
				sealFrame(f)
			}
			writeFile(t, path, data)

			_, _, err := startDir(t, dir, nil)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Start = %v; want a CorruptError", err)
			}
			if ce.File != path || ce.Offset != first || !strings.Contains(ce.Detail, "not an AT record") {
				t.Fatalf("error names %s at %d (%s); want %s at %d", ce.File, ce.Offset, ce.Detail, path, first)
			}
			if after, err := os.ReadFile(path); err != nil || string(after) != string(data) {
				t.Fatalf("the file changed (%v)", err)
			}
		})
	}
}
