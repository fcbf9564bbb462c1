// Package natswire parses what a NATS server sends a client (INFO, MSG,
// HMSG, PING, PONG, +OK, -ERR) and the header block of an HMSG, as pure
// functions over bytes that return views into them. It is the flood's
// receive path (bus/rx.go): a node reads the messages of herd.at.<self>
// from its in-process server without building a nats.Msg and a header map
// per message, and without handing each to a subscription goroutine.
package natswire

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind is a frame's operation.
type Kind uint8

// Frames a server sends a client.
const (
	Info Kind = iota + 1 // INFO {json}: Arg
	Msg                  // MSG or HMSG: Subject, SID, Reply, Header, Data
	Ping                 // PING: answer PONG
	Pong                 // PONG
	OK                   // +OK (verbose connections only)
	Err                  // -ERR 'text': Arg
)

var kindNames = [...]string{Info: "INFO", Msg: "MSG", Ping: "PING", Pong: "PONG", OK: "+OK", Err: "-ERR"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Frame is one parsed frame. Its slices alias the parsed buffer.
type Frame struct {
	Kind    Kind
	Subject []byte // Msg
	SID     []byte // Msg
	Reply   []byte // Msg: nil when none
	// Header is an HMSG's header block, from its "NATS/1.0" line to the
	// blank line that ends it (ParseHeader reads it); nil for a MSG.
	Header []byte
	Data   []byte // Msg: the payload
	Arg    []byte // Info: the JSON; Err: the text, quotes and all
}

// MaxControlLine bounds a frame's first line, as the server bounds a
// client's (nats-server MAX_CONTROL_LINE_SIZE).
const MaxControlLine = 4096

// Errors of Parse, in one block.
var (
	// ErrShort: the buffer holds only the start of a frame; read more and
	// parse again from the same offset.
	ErrShort = errors.New("incomplete nats frame")
	// ErrBadFrame: the bytes are not a frame a server sends; the
	// connection is beyond repair.
	ErrBadFrame = errors.New("bad nats frame")
)

// Parse parses the frame at the start of b and returns it with the number
// of bytes it takes. With ErrShort, b holds only the start of one.
func Parse(b []byte) (Frame, int, error) {
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		if len(b) > MaxControlLine {
			return Frame{}, 0, fmt.Errorf("%w: control line longer than %d bytes", ErrBadFrame, MaxControlLine)
		}
		return Frame{}, 0, ErrShort
	}
	if eol > MaxControlLine {
		return Frame{}, 0, fmt.Errorf("%w: control line longer than %d bytes", ErrBadFrame, MaxControlLine)
	}
	line := b[:eol]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	op, rest := cutOp(line)
	n := eol + 1
	switch {
	case equalFold(op, "MSG"):
		return parseMsg(b, n, rest, false)
	case equalFold(op, "HMSG"):
		return parseMsg(b, n, rest, true)
	case equalFold(op, "PING") && len(rest) == 0:
		return Frame{Kind: Ping}, n, nil
	case equalFold(op, "PONG") && len(rest) == 0:
		return Frame{Kind: Pong}, n, nil
	case equalFold(op, "+OK") && len(rest) == 0:
		return Frame{Kind: OK}, n, nil
	case equalFold(op, "INFO"):
		return Frame{Kind: Info, Arg: rest}, n, nil
	case equalFold(op, "-ERR"):
		return Frame{Kind: Err, Arg: rest}, n, nil
	}
	return Frame{}, 0, fmt.Errorf("%w: unknown operation %.16q", ErrBadFrame, op)
}

// parseMsg parses a MSG or HMSG whose control line (args) ends at n.
func parseMsg(b []byte, n int, args []byte, hdr bool) (Frame, int, error) {
	var a [5][]byte
	na := 0
	for len(args) > 0 {
		if na == len(a) {
			return Frame{}, 0, fmt.Errorf("%w: too many arguments", ErrBadFrame)
		}
		a[na], args = cutOp(args)
		na++
	}
	f := Frame{Kind: Msg}
	var hsize, size int
	var ok bool
	switch {
	case !hdr && (na == 3 || na == 4):
		f.Subject, f.SID = a[0], a[1]
		if na == 4 {
			f.Reply = a[2]
		}
		size, ok = atoi(a[na-1])
	case hdr && (na == 4 || na == 5):
		f.Subject, f.SID = a[0], a[1]
		if na == 5 {
			f.Reply = a[2]
		}
		var ok1 bool
		hsize, ok1 = atoi(a[na-2])
		size, ok = atoi(a[na-1])
		ok = ok && ok1 && hsize <= size
	default:
		return Frame{}, 0, fmt.Errorf("%w: %d arguments", ErrBadFrame, na)
	}
	if !ok {
		return Frame{}, 0, fmt.Errorf("%w: bad size", ErrBadFrame)
	}
	end := n + size
	if len(b)-n < size+2 { // payload and CRLF; size is bounded by atoi
		return Frame{}, 0, ErrShort
	}
	if b[end] != '\r' || b[end+1] != '\n' {
		return Frame{}, 0, fmt.Errorf("%w: payload not followed by CRLF", ErrBadFrame)
	}
	if hdr {
		f.Header = b[n : n+hsize : n+hsize]
	}
	f.Data = b[n+hsize : end : end]
	return f, end + 2, nil
}

// cutOp splits s at its first run of spaces or tabs, after skipping
// leading ones.
func cutOp(s []byte) (op, rest []byte) {
	s = trimSpace(s)
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return s[:i], trimSpace(s[i:])
}

func trimSpace(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// maxSize bounds a message size: far above any server's max_payload, and
// small enough that n+size+2 cannot overflow.
const maxSize = 1 << 30

// atoi parses a decimal size without allocating.
func atoi(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxSize
}

// equalFold reports whether s is op, ignoring ASCII case: the protocol's
// operations are case-insensitive.
func equalFold(s []byte, op string) bool {
	if len(s) != len(op) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != op[i] {
			return false
		}
	}
	return true
}
