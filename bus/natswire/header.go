package natswire

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrBadHeader: an HMSG header block that nats.go would not decode either.
var ErrBadHeader = errors.New("bad nats header block")

// statusLine is how every header block starts; the server may put a
// status code after it.
const statusLine = "NATS/1.0"

// ParseHeader reads the header block h of an HMSG (Frame.Header) and sets
// values[i] to the first value of the field named keys[i], nil when the
// block has none. Values alias h. It accepts and reads exactly what
// nats.go's DecodeHeadersMsg does (case-sensitive names, leading spaces
// and tabs of a value skipped, the rest kept), without allocating.
func ParseHeader(h []byte, keys []string, values [][]byte) error {
	clear(values)
	l, h, ok := headerLine(h)
	if !ok || !bytes.HasPrefix(l, []byte(statusLine)) {
		return fmt.Errorf("%w: no %s line", ErrBadHeader, statusLine)
	}
	// An inline status ("NATS/1.0 503 No Responders") has a three-digit
	// code at least, as nats.go requires.
	if st := l[len(statusLine):]; len(st) > 0 && len(bytes.TrimSpace(st)) < 3 {
		return fmt.Errorf("%w: short status", ErrBadHeader)
	}
	for {
		kv, rest, ok := headerLine(h)
		if !ok {
			return fmt.Errorf("%w: no blank line at its end", ErrBadHeader)
		}
		h = rest
		if len(kv) == 0 {
			return nil
		}
		i := bytes.IndexByte(kv, ':')
		if i < 0 {
			return fmt.Errorf("%w: a field without a colon", ErrBadHeader)
		}
		key := kv[:i]
		if len(key) == 0 {
			continue
		}
		i++
		for i < len(kv) && (kv[i] == ' ' || kv[i] == '\t') {
			i++
		}
		for j, k := range keys {
			if values[j] == nil && string(key) == k {
				values[j] = kv[i:len(kv):len(kv)]
			}
		}
	}
}

// headerLine cuts h at its first LF, without a CR before it.
func headerLine(h []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(h, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line = h[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, h[i+1:], true
}
