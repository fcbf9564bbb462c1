package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/herdhq/herd/bus/record"
)

// Salvaged tells what Salvage did to one damaged file.
type Salvaged struct {
	File      string // the file, rewritten in place with every valid entry
	DamagedAs string // the original, kept aside as <file>.damaged-<offset>
	Kept      int    // records kept
	Skipped   []Span // damaged byte ranges of the original that were skipped
}

// Span is a byte range of a file.
type Span struct {
	Offset, Length int64
}

// Salvage repairs a node directory that Start refused with ErrCorrupt or
// ErrTruncatedSnapshot. For each damaged file (the current snapshot and
// the log segments after it) it keeps every entry whose checksum holds and
// that is a record, skips the damaged bytes, writes the result in the
// file's place (temp file, fsync, rename), and keeps the original beside
// it as <name>.damaged-<offset of the first damage>. Records in the
// skipped bytes are lost from this node; its neighbors' anti-entropy
// brings back any the herd still has. Files without damage are left as
// they are (a torn tail alone is Start's to cut).
//
// Salvage takes the directory's lock: it fails with ErrLocked while a
// node has the directory open. logger may be nil.
func Salvage(dir string, logger *slog.Logger) ([]Salvaged, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dfi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	// A lock file made here, where no node ever ran, is the node's too.
	if err := keepOwner(lock, dfi); err != nil {
		return nil, err
	}
	files, err := listDir(dir)
	if err != nil {
		return nil, err
	}
	type target struct {
		name  string
		magic [8]byte
		ctl   byte
	}
	var targets []target
	var snapSeq uint64
	if n := len(files.snaps); n > 0 {
		snapSeq = files.snaps[n-1]
		targets = append(targets, target{snapshotName(snapSeq), snapMagic, ctlEnd})
	}
	for _, q := range files.segs {
		if q >= snapSeq {
			targets = append(targets, target{segmentName(q), logMagic, ctlSeal})
		}
	}
	buf := make([]byte, readBufLen)
	var out []Salvaged
	for _, t := range targets {
		sv, err := salvageFile(dir, t.name, t.magic, t.ctl, buf)
		if err != nil {
			return out, fmt.Errorf("salvage %s: %w", t.name, err)
		}
		if sv != nil {
			logger.Warn("salvaged a damaged storage file", "file", sv.File, "kept_records", sv.Kept,
				"skipped", sv.Skipped, "original", sv.DamagedAs)
			out = append(out, *sv)
		}
	}
	return out, nil
}

// salvageFile rewrites one file if it is damaged; nil when it is not.
func salvageFile(dir, name string, magic [8]byte, ctl byte, buf []byte) (*Salvaged, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sv := &Salvaged{File: path}
	out := appendHeader(nil, magic)
	var count uint64
	fr := newFileReader(f, buf)
	bad := false // damage other than a torn tail or a missing seal
	ended := false
	skip := func(off, n int64) {
		if k := len(sv.Skipped); k > 0 && sv.Skipped[k-1].Offset+sv.Skipped[k-1].Length == off {
			sv.Skipped[k-1].Length += n
			return
		}
		sv.Skipped = append(sv.Skipped, Span{off, n})
	}
	switch err := fr.header(magic); {
	case errors.Is(err, errShort), errors.Is(err, errHeader):
		bad = true
		if rerr := fr.resync(); rerr != nil {
			var d *damage
			if !errors.As(rerr, &d) {
				return nil, rerr
			}
			skip(0, max(d.Next, d.End))
		}
	case err != nil:
		return nil, err
	}
	var d *damage // outside the loop: errors.As makes it escape
	for {
		p, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, &d) {
			if d.Next >= 0 {
				bad = true
				skip(d.Off, d.Next-d.Off)
				continue
			}
			skip(d.Off, d.End-d.Off)
			if ended {
				bad = true // Start refuses bytes after a seal
			}
			break
		}
		if err != nil {
			return nil, err
		}
		if ended {
			bad = true // entries after a seal or end entry
		}
		if kind, n, ok := control(p); ok {
			// Not copied: the rewrite ends with its own. A count that
			// disagrees (records lost earlier) needs the rewrite.
			if kind != ctl {
				skip(off, int64(frameHead+len(p)))
			}
			bad = bad || kind != ctl || n != count
			ended = true
			continue
		}
		if _, perr := record.ParseView(p); perr != nil {
			bad = true
			skip(off, int64(frameHead+len(p)))
			continue
		}
		out = appendRecordFrame(out, p)
		count++
	}
	// A snapshot without its end entry is truncated; a segment without its
	// seal is only unsealed (Start handles it).
	if !bad && (ended || ctl == ctlSeal) {
		return nil, nil
	}
	sv.Kept = int(count)
	out = appendControlFrame(out, ctl, count)
	first := fr.off
	if len(sv.Skipped) > 0 {
		first = sv.Skipped[0].Offset
	}
	sv.DamagedAs = fmt.Sprintf("%s%s%d", path, damagedExt, first)
	// Keep the original under its new name first: at every moment path is
	// either the original or the salvaged file.
	if err := os.Link(path, sv.DamagedAs); err != nil {
		return nil, err
	}
	if err := writeFileSync(dir, name, func(f *os.File) error {
		if err := keepOwner(f, fi); err != nil {
			return err
		}
		_, err := f.Write(out)
		return err
	}); err != nil {
		return nil, err
	}
	return sv, nil
}

// keepOwner gives f the owner of orig: the salvaged file that of the file
// it replaces, the lock file that of the directory. Salvage runs as root
// (the node's error says to run it), while a node under the systemd unit
// runs as the unit's own user: a file root writes, mode 0640, would stop
// that node at its next start with "permission denied". Only root can
// give a file away; others write files they own, as the node does.
func keepOwner(f *os.File, orig os.FileInfo) error {
	st, ok := orig.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give %s its original owner: %w", f.Name(), err)
	}
	return nil
}
