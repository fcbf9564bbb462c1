// Package proto is the classic client protocol's line parser: a pure
// function from one line of bytes to a command or a typed error. It does no
// I/O and keeps no state; the connection loop owns framing, limits and
// replies.
package proto

import (
	"errors"
	"unicode/utf8"

	"github.com/herdhq/herd/bus/record"
)

// Errors of Parse, in one block. Each makes the line invalid (reply "? line").
var (
	ErrUnknownCommand = errors.New("unknown command")
	ErrFromClientAT   = errors.New("AT lines are not accepted from clients")
	ErrFieldCount     = errors.New("wrong number of fields")
	ErrClientTooLong  = errors.New("client name longer than 256 bytes")
	ErrClientNotUTF8  = errors.New("client name not valid UTF-8")
	ErrBadLocation    = errors.New("bad location")
	ErrBadTime        = errors.New("bad client time")
	ErrBadRadius      = errors.New("radius not in (0, 50] km")
	ErrBadLimit       = errors.New("limit not in [1, 20]")
	ErrLineTooLong    = errors.New("line longer than the limit")
)

// Kind is the command of a line.
type Kind uint8

// Kinds of lines.
const (
	Empty   Kind = iota // empty or whitespace only: no reply
	IAMAT               // IAMAT <client> <location> <client-time>
	WHATSAT             // WHATSAT <client> <radius-km> <limit>
)

// Limits of the protocol.
const (
	MaxRadiusKm = "50"
	MaxLimit    = 20
)

// Command is a parsed line. Its byte fields alias the parsed line: they are
// valid only as long as the line's buffer is.
type Command struct {
	Kind     Kind
	Client   []byte
	Location []byte // IAMAT
	Time     []byte // IAMAT
	Radius   []byte // WHATSAT, km as the client wrote it
	Limit    int    // WHATSAT
}

// isSpace is the protocol's whitespace set: space, tab, CR, FF, VT.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'
}

// Parse parses one line without its LF. It does not allocate.
func Parse(line []byte) (Command, error) {
	var f [5][]byte
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if n == len(f) {
			n++ // too many fields; no need to look further
			break
		}
		f[n] = line[i:j]
		n++
		i = j
	}
	if n == 0 {
		return Command{Kind: Empty}, nil
	}
	switch string(f[0]) {
	case "IAMAT":
		return parseIAMAT(f, n)
	case "WHATSAT":
		return parseWHATSAT(f, n)
	case "AT":
		return Command{}, ErrFromClientAT
	}
	return Command{}, ErrUnknownCommand
}

func parseIAMAT(f [5][]byte, n int) (Command, error) {
	if n != 4 {
		return Command{}, ErrFieldCount
	}
	c := Command{Kind: IAMAT, Client: f[1], Location: f[2], Time: f[3]}
	if err := checkClient(c.Client); err != nil {
		return Command{}, err
	}
	switch {
	case !record.ValidLocation(c.Location):
		return Command{}, ErrBadLocation
	case !record.ValidTime(c.Time):
		return Command{}, ErrBadTime
	}
	return c, nil
}

func parseWHATSAT(f [5][]byte, n int) (Command, error) {
	if n != 4 {
		return Command{}, ErrFieldCount
	}
	c := Command{Kind: WHATSAT, Client: f[1], Radius: f[2]}
	if err := checkClient(c.Client); err != nil {
		return Command{}, err
	}
	if !record.Decimal(c.Radius) || record.IsZero(c.Radius) || !record.AtMost(c.Radius, MaxRadiusKm) {
		return Command{}, ErrBadRadius
	}
	limit, ok := smallInt(f[3])
	if !ok || limit < 1 || limit > MaxLimit {
		return Command{}, ErrBadLimit
	}
	c.Limit = limit
	return c, nil
}

// checkClient is the one rule for client names, whatever the door: at
// most record.MaxClientLen bytes of valid UTF-8 (protocol.md §1), so that
// one name can never become two records.
func checkClient(name []byte) error {
	switch {
	case len(name) > record.MaxClientLen:
		return ErrClientTooLong
	case !utf8.Valid(name):
		return ErrClientNotUTF8
	}
	return nil
}

// smallInt parses digits (leading zeros allowed) into an int, refusing
// anything that could overflow.
func smallInt(b []byte) (int, bool) {
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 6 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
