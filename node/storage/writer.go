package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// everysecInterval is FsyncEverySec's fsync period.
const everysecInterval = time.Second

// writeLinger is how long the writer lets records gather after a write of
// fewer than lingerRecords, with FsyncEverySec and FsyncNo: at most this
// much more is lost to a crash of the process (everysec promises a
// second), and a steady stream costs a write every writeLinger rather
// than one every few records. 5 ms rather than 1: at 75,000 records/s a
// node made a write(2) every millisecond, 1.8 % of a saturated herd's
// CPU (BENCHMARKS.md, Durability, round 3).
const (
	writeLinger   = 5 * time.Millisecond
	lingerRecords = 1024
)

// writer is the one goroutine that writes the log: it takes the queue's
// records in batches, writes each batch with one write(2), fsyncs by the
// policy, seals and opens segments when a snapshot asks, and gives up
// (degraded) on a disk error until a snapshot opens a new segment. All its
// fields belong to that goroutine (and to Start and Close before and
// after it runs).
type writer struct {
	s       *Storage
	seg     *os.File // the active segment; nil while none is writable
	segName string
	segSize int64  // bytes of whole frames in seg
	segRecs uint64 // record frames in seg
	seq     uint64 // seq of the newest segment created (active or given up)
	nextSeq uint64
	// unsynced counts records written since the last fsync.
	unsynced int
	buf      []byte          // frame encoding buffer, reused
	spare    []record.Record // the empty half of the queue's double buffer
	next     *commit         // the commit the queue gets at the next swap

	dropLogAt time.Time // last "records not persisted" line
	dropLogN  int       // records not persisted since then
	closeErr  error     // an error of the final write, fsync or seal
}

type rotation struct {
	seq uint64
	err error
}

func (w *writer) run() {
	s := w.s
	defer s.writerDone.Done()
	var tick <-chan time.Time
	if s.cfg.Fsync == FsyncEverySec {
		t := time.NewTicker(everysecInterval)
		defer t.Stop()
		tick = t.C
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		n, closed := w.flush()
		if closed {
			if n > 0 {
				continue // drain what was queued before Close
			}
			w.finish()
			return
		}
		if n > 0 && n < lingerRecords && s.cfg.Fsync != FsyncAlways {
			// Nobody waits on these writes: let a steady stream gather
			// for a moment, so it goes out in few large writes rather
			// than a write(2) and a wake-up for every few records.
			linger.Reset(writeLinger)
			select {
			case <-linger.C:
			case reply := <-s.rotate:
				linger.Stop()
				seq, err := w.rotate()
				reply <- rotation{seq, err}
			}
			continue
		}
		select {
		case <-s.wake:
		case <-tick:
			if w.seg != nil && w.unsynced > 0 {
				w.sync()
			}
		case reply := <-s.rotate:
			seq, err := w.rotate()
			reply <- rotation{seq, err}
		}
	}
}

// flush writes one batch from the queue and returns its size.
func (w *writer) flush() (n int, closed bool) {
	s := w.s
	if w.next == nil && s.cfg.Fsync == FsyncAlways {
		w.next = newCommit()
	}
	batch, c, used, dropped, closed := s.swap(w.spare, w.next)
	if used {
		w.next = nil
	}
	if dropped > 0 {
		w.drop(dropped, DropQueueFull, "write queue full")
	}
	if len(batch) > 0 {
		w.write(batch, c)
		clear(batch) // let the strings go
	}
	w.spare = batch
	return len(batch), closed
}

// write appends batch to the segment and decides its commit.
func (w *writer) write(batch []record.Record, c *commit) {
	s := w.s
	if w.seg == nil {
		w.drop(len(batch), DropDiskError, "no writable log segment")
		if c != nil {
			c.decide(fmt.Errorf("%w: no writable log segment", ErrNotPersisted))
		}
		return
	}
	buf := w.buf[:0]
	n := 0
	for _, r := range batch {
		if len(r.Line) == 0 || len(r.Line) > MaxRecordBytes {
			w.drop(1, DropTooLarge, "")
			continue
		}
		buf = appendRecordFrame(buf, r.Line)
		n++
	}
	w.buf = buf
	if n > 0 {
		if _, err := w.seg.Write(buf); err != nil {
			w.fault("write", err)
			w.drop(n, DropDiskError, err.Error())
			if c != nil {
				c.decide(fmt.Errorf("%w: %w", ErrNotPersisted, err))
			}
			return
		}
		w.segSize += int64(len(buf))
		w.segRecs += uint64(n)
		w.unsynced += n
		s.logBytes.Add(int64(len(buf)))
		s.cfg.Observe.Wrote(n, len(buf))
		s.cfg.Observe.DiskUsage(s.logBytes.Load(), s.snapBytes.Load())
		if s.cfg.Fsync == FsyncAlways {
			if err := w.sync(); err != nil {
				if c != nil {
					c.decide(fmt.Errorf("%w: %w", ErrNotPersisted, err))
				}
				return
			}
		}
	}
	if c != nil {
		c.decide(nil)
	}
	if s.logBytes.Load() > max(s.cfg.SnapshotMinBytes, s.snapBytes.Load()) {
		s.trigger()
	}
}

// sync fsyncs the segment. On failure the records written since the last
// fsync may be lost (the kernel may drop dirty pages it failed to write),
// so they are counted as not persisted.
func (w *writer) sync() error {
	start := time.Now()
	err := w.seg.Sync()
	d := time.Since(start)
	n := w.unsynced
	w.unsynced = 0
	if err != nil {
		w.fault("fsync", err)
		w.drop(n, DropDiskError, err.Error())
		return err
	}
	w.s.cfg.Observe.Synced(d, n)
	return nil
}

// fault gives up the segment after a failed write or fsync: it cuts what
// a short write left (so the segment ends with whole frames; if that fails
// too, Start cuts it as a torn tail) and closes it unsealed. The writer
// drops records until a snapshot opens a new segment.
func (w *writer) fault(op string, err error) {
	w.seg.Truncate(w.segSize)
	w.seg.Close()
	w.seg = nil
	var pe *fs.PathError
	if !errors.As(err, &pe) { // a PathError names its operation and file already
		err = fmt.Errorf("%s %s: %w", op, w.segName, err)
	}
	w.s.diskFault(err)
	w.s.trigger()
}

// drop counts n records not persisted. Unless reason is "" (a record too
// large for any file), the gap is recorded so a snapshot repairs it.
func (w *writer) drop(n int, why DropReason, reason string) {
	s := w.s
	s.notPersisted.Add(uint64(n))
	s.cfg.Observe.NotPersisted(n, why)
	if reason != "" {
		s.gap(w.seq, n, reason)
		s.trigger()
	}
	w.dropLogN += n
	if now := time.Now(); now.Sub(w.dropLogAt) >= dropLogEvery {
		s.cfg.Logger.Warn("records not persisted (kept in memory)", "dir", s.cfg.Dir,
			"records", w.dropLogN, "reason", why, "total", s.notPersisted.Load())
		w.dropLogAt, w.dropLogN = now, 0
	}
}

// rotate seals the active segment and opens the next; every record queued
// after it goes to the new one. A snapshot begun after rotate returns
// holds everything written before.
func (w *writer) rotate() (uint64, error) {
	if w.seg != nil {
		w.seal()
	}
	seq := w.nextSeq
	w.nextSeq++
	name := segmentName(seq)
	f, err := createSegment(w.s.cfg.Dir, name)
	if err != nil {
		err = fmt.Errorf("create %s: %w", name, err)
		w.s.diskFault(err)
		return 0, err
	}
	w.seg, w.segName, w.segSize, w.segRecs, w.seq, w.unsynced = f, name, headerLen, 0, seq, 0
	w.s.logBytes.Add(headerLen)
	w.s.diskOK()
	return seq, nil
}

// seal ends the active segment with its seal entry, fsyncs and closes it.
func (w *writer) seal() error {
	w.buf = appendControlFrame(w.buf[:0], ctlSeal, w.segRecs)
	if _, err := w.seg.Write(w.buf); err != nil {
		w.fault("seal", err)
		return err
	}
	w.segSize += int64(len(w.buf))
	w.s.logBytes.Add(int64(len(w.buf)))
	if err := w.sync(); err != nil {
		return err
	}
	f := w.seg
	w.seg = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.segName, err)
	}
	return nil
}

// finish runs once the queue is closed and drained: a final fsync and the
// seal.
func (w *writer) finish() {
	if w.seg != nil {
		w.closeErr = w.seal()
	}
}

// createSegment makes a new segment durably: header, fsync, directory
// fsync, so that records fsynced into it are found after a crash.
func createSegment(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(appendHeader(nil, logMagic))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}
