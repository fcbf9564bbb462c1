package storage

import (
	"errors"
	"fmt"
	"io"
)

// readBufLen is the reader's buffer: it must hold the longest frame.
const readBufLen = 2 << 20

// fileReader reads the frames of one file in order from an io.Reader,
// through a buffer, so that replaying a large file costs no more memory
// than the buffer. On bytes that are not a valid frame it scans forward
// for the next valid one, which tells a torn tail (nothing valid follows)
// from damage in the middle (something does).
type fileReader struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]
	off      int64 // file offset of buf[pos]
	eof      bool
}

func newFileReader(r io.Reader, buf []byte) *fileReader {
	if len(buf) < readBufLen {
		buf = make([]byte, readBufLen)
	}
	return &fileReader{r: r, buf: buf}
}

// damage describes bytes at Off that are not a valid frame.
type damage struct {
	Off  int64 // where the bad bytes begin
	Next int64 // where the next valid frame begins; -1 when none follows (a torn tail)
	End  int64 // the file's length (known once Next is -1)
}

func (d *damage) Error() string {
	if d.Next < 0 {
		return fmt.Sprintf("torn tail at offset %d", d.Off)
	}
	return fmt.Sprintf("damaged bytes at offset %d (next valid entry at %d)", d.Off, d.Next)
}

// fill makes n bytes available at buf[pos:] and reports false when the
// file ends first.
func (fr *fileReader) fill(n int) (bool, error) {
	for fr.end-fr.pos < n {
		if fr.eof {
			return false, nil
		}
		if fr.pos > 0 {
			fr.end = copy(fr.buf, fr.buf[fr.pos:fr.end])
			fr.pos = 0
		}
		m, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += m
		switch {
		case errors.Is(err, io.EOF):
			fr.eof = true
		case err != nil:
			return false, err
		}
	}
	return true, nil
}

func (fr *fileReader) skip(n int) {
	fr.pos += n
	fr.off += int64(n)
}

// header checks the file header: errShort when the file is shorter than
// a header (torn at creation), errHeader when it is not one.
func (fr *fileReader) header(magic [8]byte) error {
	ok, err := fr.fill(headerLen)
	if err != nil {
		return err
	}
	if !ok {
		return errShort
	}
	if err := checkHeader(fr.buf[fr.pos:fr.end], magic); err != nil {
		return err
	}
	fr.skip(headerLen)
	return nil
}

// frameAt decodes the frame at the reader's position, reading as much of
// the file as the frame needs. ok is false when no valid frame starts
// there.
func (fr *fileReader) frameAt() (payload []byte, n int, ok bool, err error) {
	if ok, err := fr.fill(frameHead); !ok || err != nil {
		return nil, 0, false, err
	}
	p, n, derr := decodeFrame(fr.buf[fr.pos:fr.end])
	if errors.Is(derr, errShort) && n > 0 {
		if ok, err := fr.fill(n); !ok || err != nil {
			return nil, 0, false, err
		}
		p, n, derr = decodeFrame(fr.buf[fr.pos:fr.end])
	}
	return p, n, derr == nil, nil
}

// next returns the next frame's payload, valid until the next call, and
// its offset. At a clean end it returns io.EOF; on bytes that are not a
// frame, a *damage, with the reader left at the next valid frame (or at
// the end); other errors are read errors.
func (fr *fileReader) next() ([]byte, int64, error) {
	p, n, ok, err := fr.frameAt()
	if err != nil {
		return nil, fr.off, err
	}
	if !ok {
		if fr.eof && fr.pos == fr.end {
			return nil, fr.off, io.EOF
		}
		return nil, fr.off, fr.resync()
	}
	off := fr.off
	fr.skip(n)
	return p, off, nil
}

// resync skips bytes one at a time until a valid frame starts or the file
// ends. A valid frame cannot start inside a record's text: its length
// would be four printable bytes, above MaxRecordBytes.
func (fr *fileReader) resync() error {
	d := &damage{Off: fr.off, Next: -1}
	for {
		fr.skip(1)
		if ok, err := fr.fill(1); err != nil {
			return err
		} else if !ok {
			fr.off += int64(fr.end - fr.pos)
			fr.pos = fr.end
			d.End = fr.off
			return d
		}
		_, _, ok, err := fr.frameAt()
		if err != nil {
			return err
		}
		if ok {
			d.Next = fr.off
			return d
		}
	}
}
