package service

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// ClientName is a client name in a JSON request, decoded from the raw bytes of
// its JSON string. encoding/json would turn bytes that are not UTF-8 (and
// \u escapes of lone surrogates) into U+FFFD, so that one raw name sent
// to the service would become another name than the same bytes sent to
// the TCP port. ClientName keeps them as they are instead — a lone surrogate as
// its three-byte form, itself not UTF-8 — and the core's parser refuses
// the command like the TCP port's (protocol.md §1: one rule at both doors).
type ClientName string

var errNotString = errors.New("want a JSON string")

// UnmarshalJSON decodes a JSON string without replacing anything.
func (n *ClientName) UnmarshalJSON(b []byte) error {
	s, err := unquote(b)
	if err != nil {
		return err
	}
	*n = ClientName(s)
	return nil
}

// unquote decodes a JSON string literal (already checked by the JSON
// scanner) byte for byte: escapes are decoded, every other byte is kept.
func unquote(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", errNotString
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			return "", errNotString
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				return "", errNotString
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := lowSurrogate(b[i:]); ok && r < 0xdc00 {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, r2))
					i += 6
					continue
				}
				// A lone surrogate: its three-byte form, which is not
				// UTF-8, so that the parser refuses the name.
				out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
				continue
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", errNotString
		}
		i += 2
	}
	return string(out), nil
}

// lowSurrogate reads a \uDC00..\uDFFF escape at the start of b.
func lowSurrogate(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	r, ok := hex4(b[2:])
	return r, ok && r >= 0xdc00 && r <= 0xdfff
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
