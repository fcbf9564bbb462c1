package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CorruptError names a damaged file and where the damage begins. It wraps
// ErrCorrupt or ErrTruncatedSnapshot. Salvage repairs the directory.
type CorruptError struct {
	File   string // path of the file
	Offset int64  // byte offset of the first bad byte
	Err    error  // ErrCorrupt or ErrTruncatedSnapshot
	Detail string // what is wrong there
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d: %s (salvage keeps every valid entry and moves the damaged file aside)",
		e.Err, e.File, e.Offset, e.Detail)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ctxCheckEvery is how many records a load reads between checks of the
// context and of the workers (a record that did not parse stops it).
const ctxCheckEvery = 1 << 14

// reserveSample is how many records of a snapshot the loader reads before
// it estimates their number from the file's size and reserves room in the
// store for them.
const reserveSample = 256

// loader replays a directory into the store.
type loader struct {
	s      *Storage
	ctx    context.Context
	buf    []byte
	rp     *replayer
	replay Replay
}

func newLoader(ctx context.Context, s *Storage) *loader {
	return &loader{s: s, ctx: ctx, buf: make([]byte, readBufLen), rp: newReplayer(s.cfg.Store)}
}

// close stops the replay workers.
func (l *loader) close() { l.rp.stop() }

// first returns the first record that did not parse, once every record
// read is put, or else err: the loader reads ahead of the workers, so a
// bad record they found comes before any damage it read meanwhile.
func (l *loader) first(err error) error {
	if werr := l.rp.wait(); werr != nil {
		return werr
	}
	return err
}

// load replays the newest snapshot and the segments from its seq on,
// cuts torn tails, seals unsealed segments, removes leftovers, and returns
// the seq for the next segment.
func (l *loader) load() (next uint64, err error) {
	s := l.s
	dir := s.cfg.Dir
	files, err := listDir(dir)
	if err != nil {
		return 0, err
	}
	for _, t := range files.tmps {
		os.Remove(filepath.Join(dir, t)) // a snapshot or salvage cut short
	}
	if len(files.damaged) > 0 {
		s.cfg.Logger.Info("damaged files kept aside by salvage (delete them when no longer wanted)",
			"dir", dir, "files", files.damaged)
	}
	var snapSeq uint64
	if n := len(files.snaps); n > 0 {
		snapSeq = files.snaps[n-1]
		if err := l.snapshot(filepath.Join(dir, snapshotName(snapSeq))); err != nil {
			return 0, l.first(err)
		}
	}
	var live []uint64
	for _, q := range files.segs {
		if q >= snapSeq {
			live = append(live, q)
		}
	}
	for i, q := range live {
		size, err := l.segment(filepath.Join(dir, segmentName(q)), i == len(live)-1)
		if err != nil {
			return 0, l.first(err)
		}
		s.logBytes.Add(size)
	}
	// Everything read: now drop what the snapshot replaced.
	for _, q := range files.segs {
		if q < snapSeq {
			os.Remove(filepath.Join(dir, segmentName(q)))
		}
	}
	for _, q := range files.snaps[:max(len(files.snaps)-1, 0)] {
		os.Remove(filepath.Join(dir, snapshotName(q)))
	}
	next = snapSeq
	if n := len(files.segs); n > 0 {
		next = max(next, files.segs[n-1]+1)
	}
	return next, nil
}

// put hands the record payload p at off in file to the replay workers.
func (l *loader) put(p []byte, file string, off int64) error {
	l.rp.put(p, file, off)
	l.replay.Records++
	if l.replay.Records%ctxCheckEvery == 0 {
		if l.rp.failed() {
			return l.rp.wait()
		}
		return l.ctx.Err()
	}
	return nil
}

// snapshot replays a snapshot file. Any damage is an error: a snapshot is
// written whole (temp file, fsync, rename) and never torn by a crash.
func (l *loader) snapshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
		l.replay.SnapshotTime = fi.ModTime()
		l.s.snapBytes.Store(size)
	}
	fr := newFileReader(f, l.buf)
	switch err := fr.header(snapMagic); {
	case errors.Is(err, errShort):
		return &CorruptError{File: path, Err: ErrTruncatedSnapshot, Detail: "shorter than its header"}
	case errors.Is(err, errHeader):
		return &CorruptError{File: path, Err: ErrCorrupt, Detail: "not a herd snapshot (bad header)"}
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	}
	before := l.replay.Records
	count := 0
	var d *damage // outside the loop: errors.As makes it escape
	for {
		p, off, err := fr.next()
		switch {
		case errors.Is(err, io.EOF):
			return &CorruptError{File: path, Offset: off, Err: ErrTruncatedSnapshot,
				Detail: fmt.Sprintf("ends after %d records without its end entry", count)}
		case errors.As(err, &d) && d.Next < 0:
			return &CorruptError{File: path, Offset: d.Off, Err: ErrTruncatedSnapshot,
				Detail: fmt.Sprintf("ends inside an entry after %d records", count)}
		case errors.As(err, &d):
			return &CorruptError{File: path, Offset: d.Off, Err: ErrCorrupt,
				Detail: fmt.Sprintf("bad entry (checksum or length); valid entries follow at offset %d", d.Next)}
		case err != nil:
			return fmt.Errorf("read %s: %w", path, err)
		}
		if kind, n, ok := control(p); ok {
			if kind != ctlEnd || n != uint64(count) {
				return &CorruptError{File: path, Offset: off, Err: ErrCorrupt,
					Detail: fmt.Sprintf("control entry kind %d count %d after %d records", kind, n, count)}
			}
			if _, off, err := fr.next(); !errors.Is(err, io.EOF) {
				return &CorruptError{File: path, Offset: off, Err: ErrCorrupt, Detail: "bytes after the end entry"}
			}
			l.replay.FromSnapshot = l.replay.Records - before
			l.s.snapRecords = count
			return l.rp.wait()
		}
		if count == reserveSample {
			// A snapshot holds one record per client: make room for them
			// all now, rather than grow the store's tables as they come.
			read := fr.off - headerLen
			l.s.cfg.Store.Reserve(int(float64(size-headerLen)/float64(read)*reserveSample) - reserveSample)
		}
		if err := l.put(p, path, off); err != nil {
			return err
		}
		count++
	}
}

// segment replays one log segment and returns its size after any cut. A
// torn tail (bytes that are not a whole valid entry, with nothing valid
// after them) is cut and logged; it is what a crash mid-write leaves, in
// the last segment, or in one given up after a disk error. Damage with
// valid entries after it is an error. An unsealed segment is sealed, so
// any later damage to it is caught.
func (l *loader) segment(path string, last bool) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	log := l.s.cfg.Logger
	fr := newFileReader(f, l.buf)
	switch err := fr.header(logMagic); {
	case errors.Is(err, errShort):
		// Created but its header never reached the disk: it holds nothing.
		log.Warn("removed a log segment torn in its header", "file", path)
		l.replay.TornTails++
		return 0, os.Remove(path)
	case errors.Is(err, errHeader):
		return 0, &CorruptError{File: path, Err: ErrCorrupt, Detail: "not a herd log segment (bad header)"}
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	l.replay.Segments++
	before := l.replay.Records
	var count uint64
	sealed := false
	end := int64(headerLen)
	var d *damage // outside the loop: errors.As makes it escape
	for {
		p, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &d) {
			if d.Next >= 0 || sealed {
				return 0, &CorruptError{File: path, Offset: d.Off, Err: ErrCorrupt,
					Detail: fmt.Sprintf("bad entry (checksum or length) after %d records, with valid entries or a seal around it", count)}
			}
			// A record before the tail that did not parse fails the load
			// before the file is changed.
			if err := l.rp.wait(); err != nil {
				return 0, err
			}
			log.Warn("cut a torn tail from a log segment (a write cut short by a crash or a disk error)",
				"file", path, "offset", d.Off, "bytes", d.End-d.Off, "last_segment", last)
			l.replay.TornTails++
			if err := os.Truncate(path, d.Off); err != nil {
				log.Warn("could not cut the torn tail; the next start cuts it", "file", path, "err", err)
			}
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		if sealed {
			return 0, &CorruptError{File: path, Offset: off, Err: ErrCorrupt, Detail: "entry after the seal"}
		}
		end = off + int64(frameHead+len(p))
		if kind, n, ok := control(p); ok {
			if kind != ctlSeal || n != count {
				return 0, &CorruptError{File: path, Offset: off, Err: ErrCorrupt,
					Detail: fmt.Sprintf("control entry kind %d count %d after %d records", kind, n, count)}
			}
			sealed = true
			continue
		}
		if err := l.put(p, path, off); err != nil {
			return 0, err
		}
		count++
	}
	// Every record is parsed and put before the seal: a bad one fails the
	// load before the file is changed.
	if err := l.rp.wait(); err != nil {
		return 0, err
	}
	l.replay.FromLog += l.replay.Records - before
	if !sealed {
		if err := sealFile(path, end, count); err != nil {
			log.Warn("could not seal a log segment; the next start tries again", "file", path, "err", err)
		} else {
			end += frameHead + controlLen
		}
	}
	return end, nil
}

// sealFile cuts path to end and appends a seal counting count records.
func sealFile(path string, end int64, count uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(end)
	if err == nil {
		_, err = f.WriteAt(appendControlFrame(nil, ctlSeal, count), end)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
