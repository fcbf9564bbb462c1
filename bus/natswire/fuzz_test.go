package natswire_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/herdhq/herd/bus/natswire"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want natswire.Frame
		n    int
		err  error
	}{
		{"PING\r\n", natswire.Frame{Kind: natswire.Ping}, 6, nil},
		{"pong\r\nMSG", natswire.Frame{Kind: natswire.Pong}, 6, nil},
		{"+OK\r\n", natswire.Frame{Kind: natswire.OK}, 5, nil},
		{"-ERR 'Authorization Violation'\r\n", natswire.Frame{Kind: natswire.Err, Arg: []byte("'Authorization Violation'")}, 32, nil},
		{"INFO {}\n", natswire.Frame{Kind: natswire.Info, Arg: []byte("{}")}, 8, nil},
		{"MSG a.b 7 3\r\nabc\r\n", natswire.Frame{Kind: natswire.Msg, Subject: []byte("a.b"), SID: []byte("7"), Data: []byte("abc")}, 18, nil},
		{"MSG a.b 7 r 0\r\n\r\n", natswire.Frame{Kind: natswire.Msg, Subject: []byte("a.b"), SID: []byte("7"), Reply: []byte("r"), Data: []byte{}}, 17, nil},
		{"HMSG a  1\t12 14\r\nNATS/1.0\r\n\r\nab\r\n", natswire.Frame{Kind: natswire.Msg, Subject: []byte("a"), SID: []byte("1"), Header: []byte("NATS/1.0\r\n\r\n"), Data: []byte("ab")}, 33, nil},
		{"", natswire.Frame{}, 0, natswire.ErrShort},
		{"PIN", natswire.Frame{}, 0, natswire.ErrShort},
		{"MSG a 1 3\r\nab", natswire.Frame{}, 0, natswire.ErrShort},
		{"MSG a 1 3\r\nabc\r", natswire.Frame{}, 0, natswire.ErrShort},
		{"MSG a 1 3\r\nabcd\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"MSG a 1 -3\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"MSG a 1 99999999999\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"MSG a 3\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"HMSG a 1 5 3\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"HMSG a 1 r s 5 8\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"PING x\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"PUB a 1\r\n", natswire.Frame{}, 0, natswire.ErrBadFrame},
		{"INFO " + string(bytes.Repeat([]byte("x"), natswire.MaxControlLine)), natswire.Frame{}, 0, natswire.ErrBadFrame},
	}
	for _, tt := range tests {
		f, n, err := natswire.Parse([]byte(tt.in))
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Parse(%.30q): %v, want %v", tt.in, err, tt.err)
			continue
		}
		if n != tt.n || !sameFrame(f, tt.want) {
			t.Errorf("Parse(%.30q) = %+v, %d; want %+v, %d", tt.in, f, n, tt.want, tt.n)
		}
	}
}

func sameFrame(a, b natswire.Frame) bool {
	eq := func(x, y []byte) bool { return bytes.Equal(x, y) && (x == nil) == (y == nil) }
	return a.Kind == b.Kind && eq(a.Subject, b.Subject) && eq(a.SID, b.SID) && eq(a.Reply, b.Reply) &&
		eq(a.Header, b.Header) && eq(a.Data, b.Data) && bytes.Equal(a.Arg, b.Arg)
}

// realFrames are the frames of the captured stream, each alone.
func realFrames(f *testing.F) [][]byte {
	b, err := os.ReadFile(framesFile)
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for len(b) > 0 {
		_, n, err := natswire.Parse(b)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// Parse never panics, takes no more than it was given, and a frame it
// accepts parses the same from exactly its bytes, but not from fewer.
func FuzzParse(f *testing.F) {
	frames := realFrames(f)
	for _, fr := range frames {
		f.Add(fr)
		f.Add(fr[:len(fr)/2])
	}
	f.Add(bytes.Join(frames, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := natswire.Parse(b)
		if err != nil {
			if n != 0 || !errors.Is(err, natswire.ErrShort) && !errors.Is(err, natswire.ErrBadFrame) {
				t.Fatalf("Parse(%q): n %d, %v", b, n, err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("Parse(%q): n %d of %d", b, n, len(b))
		}
		again, n2, err := natswire.Parse(b[:n:n])
		if err != nil || n2 != n || !sameFrame(again, fr) {
			t.Fatalf("Parse(%q) = %+v, %d; of its own bytes %+v, %d, %v", b, fr, n, again, n2, err)
		}
		if _, k, err := natswire.Parse(b[: n-1 : n-1]); err == nil && k == n {
			t.Fatalf("Parse(%q) took %d bytes of %d", b, k, n-1)
		}
		if fr.Kind == natswire.Msg && len(fr.Header) > 0 {
			checkHeader(t, fr.Header)
		}
	})
}

// ParseHeader accepts exactly the header blocks nats.go decodes, and
// reads the same values from them.
func FuzzParseHeader(f *testing.F) {
	for _, fr := range realFrames(f) {
		if p, _, _ := natswire.Parse(fr); p.Header != nil {
			f.Add(p.Header)
		}
	}
	f.Add([]byte("NATS/1.0 503\r\n\r\n"))
	f.Add([]byte("NATS/1.0\r\nHerd-Origin:\tA \r\n: x\r\nHerd-Origin: B\r\n\r\n"))
	f.Fuzz(func(t *testing.T, h []byte) { checkHeader(t, h) })
}
