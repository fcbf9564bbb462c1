// Package record is the herd's unit of replication: one client's AT line as
// its origin node stored it, and the total order that decides which of two
// records of a client is newer. Every node applies the same order, so a herd
// converges whatever order the flood delivers records in.
package record

import (
	"bytes"
	"cmp"
	"errors"
	"strings"
	"unsafe"
)

// Errors of Parse, in one block.
var (
	ErrNotAT       = errors.New("not an AT line")
	ErrFieldCount  = errors.New("wrong number of fields")
	ErrBadTime     = errors.New("bad client time")
	ErrBadName     = errors.New("bad node name")
	ErrClientLong  = errors.New("client name too long")
	ErrBadLocation = errors.New("bad location")
)

// MaxClientLen is the longest client name the protocol allows, in bytes.
const MaxClientLen = 256

// Record is one stored AT line:
//
//	AT <origin> <time-diff> <client> <location> <client-time>
//
// with single spaces, exactly as the origin built it. The fields are
// substrings of Line, so a record costs one string allocation.
type Record struct {
	Line string
	// Offsets of the fields in Line. uint32 keeps the record small while
	// allowing any configured line limit.
	originEnd, clientStart, clientEnd, locEnd uint32
}

// Origin is the node that received the IAMAT.
func (r Record) Origin() string { return r.Line[3:r.originEnd] }

// Diff is the origin's time difference text, e.g. "+0.263873386".
func (r Record) Diff() string { return r.Line[r.originEnd+1 : r.clientStart-1] }

// Client is the client name.
func (r Record) Client() string { return r.Line[r.clientStart:r.clientEnd] }

// Location is the client's ISO 6709 location text.
func (r Record) Location() string { return r.Line[r.clientEnd+1 : r.locEnd] }

// Time is the client's time text.
func (r Record) Time() string { return r.Line[r.locEnd+1:] }

// IsZero reports whether r holds no record.
func (r Record) IsZero() bool { return r.Line == "" }

// Compare orders two records of the same client: by client time exactly,
// then by origin name, then by location text (bytewise). It returns +1 when
// a is newer than b, -1 when older, 0 when they are equal under the order.
func Compare(a, b Record) int {
	if c := CompareTime(a.Time(), b.Time()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin(), b.Origin()); c != 0 {
		return c
	}
	return cmp.Compare(a.Location(), b.Location())
}

// Newer reports whether a is strictly newer than b. Any record is newer
// than the zero Record.
func Newer(a, b Record) bool {
	if a.IsZero() || b.IsZero() {
		return b.IsZero() && !a.IsZero()
	}
	return Compare(a, b) > 0
}

// Parse validates an AT line in the exact form Build makes (single
// spaces, no line ending) and returns it as a Record. It is the bus's
// defence against malformed payloads; it copies line into one string.
func Parse(line []byte) (Record, error) {
	r, err := ParseView(line)
	if err != nil {
		return Record{}, err
	}
	return r.Clone(), nil
}

// ParseView is Parse without the copy: the Record's Line aliases line, so
// it is valid only while line's bytes stay unchanged, and must be Cloned
// before it is kept. The flood uses it to compare a received record with
// the stored one before paying for a copy: in the default herd half the
// records a node receives are duplicates that came by a second path.
func ParseView(line []byte) (Record, error) {
	if !bytes.HasPrefix(line, []byte("AT ")) {
		return Record{}, ErrNotAT
	}
	var sp [5]int // positions of the 5 separating spaces
	n := 0
	for i, c := range line {
		if c == ' ' {
			if n == len(sp) {
				return Record{}, ErrFieldCount
			}
			sp[n] = i
			n++
		}
	}
	if n != len(sp) {
		return Record{}, ErrFieldCount
	}
	for i := 1; i < len(sp); i++ {
		if sp[i] == sp[i-1]+1 {
			return Record{}, ErrFieldCount
		}
	}
	origin := line[sp[0]+1 : sp[1]]
	diff := line[sp[1]+1 : sp[2]]
	client := line[sp[2]+1 : sp[3]]
	loc := line[sp[3]+1 : sp[4]]
	t := line[sp[4]+1:]
	switch {
	case !ValidName(origin):
		return Record{}, ErrBadName
	case !validDiff(diff):
		return Record{}, ErrBadTime
	case len(client) > MaxClientLen || hasSpace(client):
		return Record{}, ErrClientLong
	case !ValidLocation(loc):
		return Record{}, ErrBadLocation
	case !ValidTime(t):
		return Record{}, ErrBadTime
	}
	return Record{
		Line:        unsafe.String(unsafe.SliceData(line), len(line)), // len ≥ 3: "AT "
		originEnd:   uint32(sp[1]),
		clientStart: uint32(sp[2] + 1),
		clientEnd:   uint32(sp[3]),
		locEnd:      uint32(sp[4]),
	}, nil
}

// hasSpace reports whether b holds a tab, CR, FF, VT or LF (spaces were
// split on already). A plain loop: bytes.ContainsAny builds its byte set on
// every call, and Parse runs for every flood record.
func hasSpace(b []byte) bool {
	for _, c := range b {
		if c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n' {
			return true
		}
	}
	return false
}

// Clone returns r with a Line of its own (one allocation).
func (r Record) Clone() Record {
	r.Line = strings.Clone(r.Line)
	return r
}

// ValidName reports whether s is a node name: a NATS subject token made of
// letters, digits, '_' and '-'.
func ValidName[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validDiff checks a time difference as AppendDiff writes it.
func validDiff(d []byte) bool {
	if len(d) < 12 || (d[0] != '+' && d[0] != '-') || d[len(d)-10] != '.' {
		return false
	}
	for i, c := range d[1:] {
		if i+1 == len(d)-10 {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Build makes the record an origin stores for an IAMAT: the AT line from
// its fields, in one allocation. The fields must be valid (the client
// protocol's parser checked them).
func Build(origin string, diff int64, client, location, clientTime []byte) Record {
	var scratch [32]byte
	d := AppendDiff(scratch[:0], diff)
	var b strings.Builder
	b.Grow(3 + len(origin) + 1 + len(d) + 1 + len(client) + 1 + len(location) + 1 + len(clientTime))
	b.WriteString("AT ")
	b.WriteString(origin)
	b.WriteByte(' ')
	b.Write(d)
	b.WriteByte(' ')
	r := Record{originEnd: uint32(3 + len(origin))}
	r.clientStart = r.originEnd + 1 + uint32(len(d)) + 1
	r.clientEnd = r.clientStart + uint32(len(client))
	r.locEnd = r.clientEnd + 1 + uint32(len(location))
	b.Write(client)
	b.WriteByte(' ')
	b.Write(location)
	b.WriteByte(' ')
	b.Write(clientTime)
	r.Line = b.String()
	return r
}
