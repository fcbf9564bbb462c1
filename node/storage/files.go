package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// A node's directory holds:
//
//	LOCK                       flock'd while a Storage or Salvage has the directory
//	<seq>.log                  log segments, seq a 20-digit decimal
//	<seq>.snap                 the snapshot: every live record when segment seq began
//	<seq>.snap.tmp             a snapshot being written (removed at Start)
//	<name>.damaged-<offset>    a damaged file Salvage moved aside
//
// Start replays the newest snapshot, then every segment from its seq on.
const (
	logExt     = ".log"
	snapExt    = ".snap"
	tmpExt     = ".tmp"
	damagedExt = ".damaged-"
	lockName   = "LOCK"
	dirPerm    = 0o750
	filePerm   = 0o640
)

func segmentName(seq uint64) string  { return fmt.Sprintf("%020d%s", seq, logExt) }
func snapshotName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, snapExt) }

// dirFiles is what listDir found.
type dirFiles struct {
	snaps   []uint64 // ascending
	segs    []uint64 // ascending
	tmps    []string
	damaged []string
}

func listDir(dir string) (dirFiles, error) {
	var f dirFiles
	ents, err := os.ReadDir(dir)
	if err != nil {
		return f, fmt.Errorf("read dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.Contains(name, damagedExt):
			f.damaged = append(f.damaged, name)
		case strings.HasSuffix(name, tmpExt):
			f.tmps = append(f.tmps, name)
		case strings.HasSuffix(name, logExt):
			if seq, ok := parseSeq(name, logExt); ok {
				f.segs = append(f.segs, seq)
			}
		case strings.HasSuffix(name, snapExt):
			if seq, ok := parseSeq(name, snapExt); ok {
				f.snaps = append(f.snaps, seq)
			}
		}
	}
	slices.Sort(f.snaps)
	slices.Sort(f.segs)
	return f, nil
}

func parseSeq(name, ext string) (uint64, bool) {
	s := strings.TrimSuffix(name, ext)
	if len(s) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

// syncDir makes renames, creations and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockDir creates dir if needed and takes its lock, so that two nodes (or a
// node and Salvage) never write one directory. The kernel drops the lock
// when the process dies, so a crash leaves nothing to clean up.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("create dir: %w", err)
	}
	path := filepath.Join(dir, lockName)
	// Read-only: flock needs no write access, and an existing lock file
	// opens on a read-only file system (a node can then start degraded).
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// writeFileSync writes a whole file durably: to name.tmp, fsync, rename
// over name, fsync the directory. Readers see the old file or the new one.
func writeFileSync(dir, name string, write func(f *os.File) error) (err error) {
	tmp := filepath.Join(dir, name+tmpExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	return nil
}

// fileSize is the size of dir/name, 0 when it cannot be read.
func fileSize(dir, name string) int64 {
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0
	}
	return fi.Size()
}
