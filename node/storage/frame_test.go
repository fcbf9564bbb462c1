package storage

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	line := "AT n1 +0.000000001 c +1+1 1.5"
	good := appendRecordFrame(nil, line)
	ctl := appendControlFrame(nil, ctlSeal, 7)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
		n    int
	}{
		{"record", good, nil, len(good)},
		{"record with more after", append(bytes.Clone(good), 9, 9), nil, len(good)},
		{"control", ctl, nil, len(ctl)},
		{"empty", nil, errShort, 0},
		{"header only", good[:frameHead], errShort, len(good)},
		{"cut payload", good[:len(good)-1], errShort, len(good)},
		{"zero length", make([]byte, 16), errBadLength, 0},
		{"length over the limit", []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 'A', 'T', ' '}, errBadLength, 0},
		{"not an AT line", append(append(bytes.Clone(good[:frameHead]), "XT "...), good[frameHead+3:]...), errBadLength, 0},
		{"control of the wrong length", []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2}, errBadLength, 0},
		{"bad checksum", flip(good, 5), errChecksum, len(good)},
		{"bad payload", flip(good, len(good)-1), errChecksum, len(good)},
		{"bad length", flip(good, 0), errChecksum, len(good) - 1}, // 29 → 28
	} {
		p, n, err := decodeFrame(tc.in)
		if !errors.Is(err, tc.err) || n != tc.n {
			t.Errorf("%s: n=%d err=%v; want n=%d err=%v", tc.name, n, err, tc.n, tc.err)
		}
		if err == nil && !bytes.Equal(p, tc.in[frameHead:n]) {
			t.Errorf("%s: payload %q", tc.name, p)
		}
	}
	if kind, count, ok := control(ctl[frameHead:]); !ok || kind != ctlSeal || count != 7 {
		t.Errorf("control = %d, %d, %v", kind, count, ok)
	}
	if _, _, ok := control([]byte(line)); ok {
		t.Error("a record read as a control entry")
	}
}
