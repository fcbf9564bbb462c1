package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// snapshotChunk is how many bytes of frames a snapshot writes at a time.
const snapshotChunk = 256 << 10

// snapshotSlack is the free space a snapshot leaves for the log: a
// snapshot that would leave less is not attempted, as filling the disk
// would make the log fail too.
const snapshotSlack = 64 << 10

// stRdonly is ST_RDONLY of statvfs(3): the file system is read-only.
const stRdonly = 1

// trigger asks the snapshot loop to consider a snapshot.
func (s *Storage) trigger() {
	select {
	case s.snapTrigger <- struct{}{}:
	default:
	}
}

// wantSnapshot reports whether the log has outgrown the last snapshot, or
// a snapshot is needed to end a degraded state.
func (s *Storage) wantSnapshot() bool {
	return s.logBytes.Load() > max(s.cfg.SnapshotMinBytes, s.snapBytes.Load()) || s.needsRepair()
}

// snapshotLoop writes snapshots when the writer asks (log too long, a
// gap, a fault), at most one attempt per RetryInterval after a failure.
func (s *Storage) snapshotLoop() {
	defer s.snapDone.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var failedAt time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.snapTrigger:
		case <-retry.C:
		}
		if !s.wantSnapshot() {
			continue
		}
		if wait := s.cfg.RetryInterval - time.Since(failedAt); !failedAt.IsZero() && wait > 0 {
			retry.Reset(wait)
			continue
		}
		if err := s.snapshot(s.ctx); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			failedAt = time.Now()
			retry.Reset(s.cfg.RetryInterval)
			continue
		}
		failedAt = time.Time{}
		switch {
		case s.needsRepair():
			// Records dropped after the rotation (an overloaded queue):
			// repair again, paced, so overload does not snapshot nonstop.
			retry.Reset(s.cfg.RetryInterval)
		case s.wantSnapshot():
			// The log outgrew the new snapshot while it was written.
			s.trigger()
		}
	}
}

// snapshot has the writer start a new segment, then writes every record of
// the store as the snapshot of that segment's seq, and deletes the files
// it replaces. Records appended during the snapshot go to the new segment,
// which survives it.
func (s *Storage) snapshot(ctx context.Context) error {
	start := time.Now()
	if err := s.checkRoom(); err != nil {
		s.snapshotFailed(start, err)
		return err
	}
	reply := make(chan rotation, 1)
	select {
	case s.rotate <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	var rot rotation
	select {
	case rot = <-reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	if rot.err != nil {
		s.snapshotFailed(start, rot.err)
		return rot.err
	}
	return s.writeSnapshot(ctx, rot.seq, start)
}

// checkRoom fails when the file system is read-only or lacks room for a
// snapshot of the store and snapshotSlack; it runs before the writer
// rotates, so failed attempts do not pile up empty segments.
//
// While nothing was dropped, every live record is in the current snapshot
// or the log, so their sizes bound the new snapshot's: with that much
// free, the store need not be measured (a pass over every record, as
// costly as the snapshot's own copy). Otherwise it is.
func (s *Storage) checkRoom() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.Dir, &st); err != nil {
		return nil // let the attempt find out
	}
	if st.Flags&stRdonly != 0 {
		return fmt.Errorf("snapshot: %s: %w", s.cfg.Dir, syscall.EROFS)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if bound := s.snapBytes.Load() + s.logBytes.Load(); !s.needsRepair() && free >= bound+snapshotSlack {
		return nil
	}
	size := int64(headerLen + frameHead + controlLen)
	s.cfg.Store.Range(func(r record.Record) bool {
		size += int64(frameHead + len(r.Line))
		return true
	})
	if free < size+snapshotSlack {
		return fmt.Errorf("snapshot needs %d bytes and %d to spare, %d free: %w", size, snapshotSlack, free, syscall.ENOSPC)
	}
	return nil
}

// writeSnapshot writes the store's records as snapshot seq and removes the
// snapshot and segments before seq.
func (s *Storage) writeSnapshot(ctx context.Context, seq uint64, start time.Time) error {
	// Copy the records out first: Range holds a store lock while it calls
	// back, and writes must not hold up the store.
	recs := make([]record.Record, 0, s.snapRecords)
	s.cfg.Store.Range(func(r record.Record) bool {
		recs = append(recs, r)
		return true
	})
	name := snapshotName(seq)
	var written int
	err := writeFileSync(s.cfg.Dir, name, func(f *os.File) error {
		var err error
		written, err = encodeSnapshot(ctx, f, recs)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err // Close: quiet; the log holds everything
		}
		err = fmt.Errorf("write snapshot %s: %w", name, err)
		s.snapshotFailed(start, err)
		return err
	}
	size := fileSize(s.cfg.Dir, name)
	s.snapBytes.Store(size)
	s.snapRecords = written
	s.removeBefore(seq)
	s.covered(seq)
	s.cfg.Observe.Snapshotted(SnapshotStats{Time: s.cfg.Now(), Duration: time.Since(start), Records: written, Bytes: size})
	s.cfg.Observe.DiskUsage(max(s.logBytes.Load(), 0), size)
	s.cfg.Logger.Debug("snapshot written", "file", filepath.Join(s.cfg.Dir, name), "records", written,
		"bytes", size, "took", time.Since(start).Round(time.Microsecond))
	return nil
}

func (s *Storage) snapshotFailed(start time.Time, err error) {
	s.repairFailed(err)
	s.cfg.Logger.Warn("snapshot failed; retrying", "dir", s.cfg.Dir, "err", err, "retry_in", s.cfg.RetryInterval)
	s.cfg.Observe.Snapshotted(SnapshotStats{Time: s.cfg.Now(), Duration: time.Since(start), Err: err})
}

// encodeSnapshot writes header, record frames and the end entry to f.
func encodeSnapshot(ctx context.Context, f *os.File, recs []record.Record) (int, error) {
	buf := appendHeader(make([]byte, 0, snapshotChunk+frameHead+MaxRecordBytes), snapMagic)
	n := 0
	for _, r := range recs {
		if len(r.Line) == 0 || len(r.Line) > MaxRecordBytes {
			continue
		}
		buf = appendRecordFrame(buf, r.Line)
		n++
		if len(buf) >= snapshotChunk {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			if _, err := f.Write(buf); err != nil {
				return n, err
			}
			buf = buf[:0]
		}
	}
	buf = appendControlFrame(buf, ctlEnd, uint64(n))
	_, err := f.Write(buf)
	return n, err
}

// removeBefore deletes the snapshots and segments a snapshot at seq
// replaced. A file it cannot remove is removed at the next Start.
func (s *Storage) removeBefore(seq uint64) {
	files, err := listDir(s.cfg.Dir)
	if err != nil {
		return
	}
	for _, q := range files.segs {
		if q < seq {
			size := fileSize(s.cfg.Dir, segmentName(q))
			if os.Remove(filepath.Join(s.cfg.Dir, segmentName(q))) == nil {
				s.logBytes.Add(-size)
			}
		}
	}
	for _, q := range files.snaps {
		if q < seq {
			os.Remove(filepath.Join(s.cfg.Dir, snapshotName(q)))
		}
	}
	syncDir(s.cfg.Dir)
}
