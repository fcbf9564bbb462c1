package storage

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzFileReader feeds the log decoder arbitrary files, seeded with files
// Storage wrote (a sealed segment, a snapshot, a torn one, a damaged one).
// Whatever the bytes, it must not panic, must end, must report frames and
// damage in file order within the file, and every frame it accepts must
// be exactly the bytes at its offset, re-encoded.
func FuzzFileReader(f *testing.F) {
	for _, snap := range []bool{false, true} {
		dir := writeRecordsIn(f, f.TempDir(), 8, snap)
		ext := logExt
		if snap {
			ext = snapExt
		}
		_, b := onlyFile(f, dir, ext)
		f.Add(b)
		f.Add(b[:len(b)-3])
		d := bytes.Clone(b)
		d[len(d)/2] ^= 0x10
		f.Add(d)
	}
	f.Add([]byte{})
	f.Add(appendHeader(nil, logMagic))
	buf := make([]byte, readBufLen)
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeFrame(b) // total on any bytes
		fr := newFileReader(bytes.NewReader(b), buf)
		if err := fr.header(logMagic); err != nil && !errors.Is(err, errShort) && !errors.Is(err, errHeader) {
			t.Fatalf("header: %v", err)
		}
		last := int64(-1)
		for steps := 0; ; steps++ {
			if steps > len(b)+1 {
				t.Fatal("reader does not end")
			}
			p, off, err := fr.next()
			if errors.Is(err, io.EOF) {
				if off != int64(len(b)) && len(b) >= headerLen {
					t.Fatalf("EOF at %d of %d", off, len(b))
				}
				return
			}
			var d *damage
			if errors.As(err, &d) {
				if d.Off <= last || d.Off >= int64(len(b)) {
					t.Fatalf("damage at %d after %d in %d bytes", d.Off, last, len(b))
				}
				if d.Next < 0 {
					if d.End != int64(len(b)) {
						t.Fatalf("torn tail ends at %d of %d", d.End, len(b))
					}
					return
				}
				if d.Next <= d.Off {
					t.Fatalf("next valid frame %d not after the damage at %d", d.Next, d.Off)
				}
				last = d.Off
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if off <= last {
				t.Fatalf("frame at %d after %d", off, last)
			}
			last = off
			if got := appendRecordFrame(nil, p); !bytes.Equal(got, b[off:off+int64(len(got))]) {
				t.Fatalf("frame at %d does not re-encode to its bytes", off)
			}
			if p[0] == 0 {
				control(p) // total on any control payload
			}
		}
	})
}
