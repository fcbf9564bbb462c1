package record

import "math"

// FromLine returns the Record of a line that Parse or Build made before,
// read back from where it was kept (the store's slabs): it finds the
// fields without validating them again. line must be such a line.
func FromLine(line string) Record {
	var sp [5]uint32
	n := 0
	for i := 0; i < len(line) && n < len(sp); i++ {
		if line[i] == ' ' {
			sp[n] = uint32(i)
			n++
		}
	}
	return Record{Line: line, originEnd: sp[1], clientStart: sp[2] + 1, clientEnd: sp[3], locEnd: sp[4]}
}

// Offsets are the ends and starts of r's fields in its Line, for a store
// that keeps lines in bytes of its own and rebuilds the Record with
// Assemble without scanning the line again.
func (r Record) Offsets() (originEnd, clientStart, clientEnd, locEnd uint32) {
	return r.originEnd, r.clientStart, r.clientEnd, r.locEnd
}

// Assemble is the Record of line with the Offsets an earlier Record of the
// same line had. It does not validate.
func Assemble(line string, originEnd, clientStart, clientEnd, locEnd uint32) Record {
	return Record{Line: line, originEnd: originEnd, clientStart: clientStart, clientEnd: clientEnd, locEnd: locEnd}
}

// ClientOf returns the client field of a line FromLine accepts, without
// building the Record.
func ClientOf(line string) string {
	n, start := 0, 0
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			n++
			switch n {
			case 3:
				start = i + 1
			case 4:
				return line[start:i]
			}
		}
	}
	return ""
}

// OriginNanos is when the origin received the IAMAT, by the origin's
// clock, in Unix nanoseconds: client time plus the origin's time
// difference. Every node computes the same value from the record alone,
// which is what lets anti-entropy agree on which records have settled.
// ok is false when it does not fit in an int64.
func (r Record) OriginNanos() (ns int64, ok bool) {
	d, ok := parseDiff(r.Diff())
	if !ok || d == math.MinInt64 {
		return 0, false
	}
	// Diff(now, t) is now − t: with now = −d it is −(d + t).
	neg, ok := Diff(-d, []byte(r.Time()))
	if !ok || neg == math.MinInt64 {
		return 0, false
	}
	return -neg, true
}

// parseDiff reads a time difference as AppendDiff writes it (a sign,
// digits, '.', nine digits) into nanoseconds.
func parseDiff(s string) (int64, bool) {
	if len(s) < 12 || s[len(s)-10] != '.' {
		return 0, false
	}
	var v uint64
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			continue
		}
		if c < '0' || c > '9' || v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case s[0] == '+' && v <= math.MaxInt64:
		return int64(v), true
	case s[0] == '-' && v <= 1<<63:
		return int64(-v), true // wraps correctly for 1<<63
	}
	return 0, false
}
