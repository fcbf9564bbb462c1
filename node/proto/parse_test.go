package proto

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestParse_Valid(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Command
	}{
		{"iamat", "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
			Command{Kind: IAMAT, Client: b("kiwi.cs.ucla.edu"), Location: b("+34.068930-118.445127"), Time: b("1621464827.959498503")}},
		{"iamat whitespace set", " \t\vIAMAT\f\tkiwi  +34-118\r 1621464827 \r",
			Command{Kind: IAMAT, Client: b("kiwi"), Location: b("+34-118"), Time: b("1621464827")}},
		{"lat +90 ok", "IAMAT c +90-0 1", Command{Kind: IAMAT, Client: b("c"), Location: b("+90-0"), Time: b("1")}},
		{"lat -90.000 ok", "IAMAT c -90.000+180.0 1", Command{Kind: IAMAT, Client: b("c"), Location: b("-90.000+180.0"), Time: b("1")}},
		{"lng -180 ok", "IAMAT c +0-180 1", Command{Kind: IAMAT, Client: b("c"), Location: b("+0-180"), Time: b("1")}},
		{"leading zeros in degrees", "IAMAT c +090.0-0180 1", Command{Kind: IAMAT, Client: b("c"), Location: b("+090.0-0180"), Time: b("1")}},
		{"20 integer digits", "IAMAT c +1+1 12345678901234567890.5", Command{Kind: IAMAT, Client: b("c"), Location: b("+1+1"), Time: b("12345678901234567890.5")}},
		{"client 256 bytes", "IAMAT " + rep('x', 256) + " +1+1 1", Command{Kind: IAMAT, Client: b(rep('x', 256)), Location: b("+1+1"), Time: b("1")}},
		{"client odd bytes", "IAMAT é\x00AT +1+1 1", Command{Kind: IAMAT, Client: b("é\x00AT"), Location: b("+1+1"), Time: b("1")}},
		{"whatsat", "WHATSAT kiwi.cs.ucla.edu 10 5", Command{Kind: WHATSAT, Client: b("kiwi.cs.ucla.edu"), Radius: b("10"), Limit: 5}},
		{"radius 50 ok", "WHATSAT c 50 20", Command{Kind: WHATSAT, Client: b("c"), Radius: b("50"), Limit: 20}},
		{"radius 50.000 ok", "WHATSAT c 50.000 1", Command{Kind: WHATSAT, Client: b("c"), Radius: b("50.000"), Limit: 1}},
		{"radius small", "WHATSAT c 0.0001 1", Command{Kind: WHATSAT, Client: b("c"), Radius: b("0.0001"), Limit: 1}},
		{"limit leading zero", "WHATSAT c 1 07", Command{Kind: WHATSAT, Client: b("c"), Radius: b("1"), Limit: 7}},
		{"empty", "", Command{Kind: Empty}},
		{"only whitespace", " \t\r\f\v ", Command{Kind: Empty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.line))
			if err != nil {
				t.Fatalf("Parse(%q) error %v", tt.line, err)
			}
			if got.Kind != tt.want.Kind || string(got.Client) != string(tt.want.Client) ||
				string(got.Location) != string(tt.want.Location) || string(got.Time) != string(tt.want.Time) ||
				string(got.Radius) != string(tt.want.Radius) || got.Limit != tt.want.Limit {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	tests := []struct {
		line string
		want error
	}{
		{"HELLO", ErrUnknownCommand},
		{"iamat c +1+1 1", ErrUnknownCommand},
		{"AT Goloman +0.1 c +1+1 1", ErrFromClientAT},
		{"AT", ErrFromClientAT},
		{"IAMAT c +1+1", ErrFieldCount},
		{"IAMAT c +1+1 1 extra", ErrFieldCount},
		{"IAMAT c +1+1 1 extra more fields", ErrFieldCount},
		{"WHATSAT c 10", ErrFieldCount},
		{"WHATSAT c 10 5 6", ErrFieldCount},
		{"IAMAT " + rep('x', 257) + " +1+1 1", ErrClientTooLong},
		{"WHATSAT " + rep('x', 257) + " 1 1", ErrClientTooLong},
		// client names must be valid UTF-8, at every door
		{"IAMAT caf\xe9 +1+1 1", ErrClientNotUTF8},      // Latin-1 é
		{"IAMAT \xed\xa0\x80 +1+1 1", ErrClientNotUTF8}, // a surrogate
		{"IAMAT c\xc3 +1+1 1", ErrClientNotUTF8},        // cut short
		{"WHATSAT caf\xe9 1 1", ErrClientNotUTF8},
		// locations
		{"IAMAT c 34.068930-118.445127 1", ErrBadLocation},   // no sign
		{"IAMAT c +34.068930118.445127 1", ErrBadLocation},   // no second part
		{"IAMAT c +34.068930,-118.445127 1", ErrBadLocation}, // separator
		{"IAMAT c +34.-118 1", ErrBadLocation},
		{"IAMAT c +.5-118 1", ErrBadLocation},
		{"IAMAT c +34-118.4.5 1", ErrBadLocation},
		{"IAMAT c +34-118- 1", ErrBadLocation},
		{"IAMAT c +90.1-0 1", ErrBadLocation},
		{"IAMAT c +90.0000001-0 1", ErrBadLocation},
		{"IAMAT c -91+0 1", ErrBadLocation},
		{"IAMAT c +0+180.0001 1", ErrBadLocation},
		{"IAMAT c +0-181 1", ErrBadLocation},
		{"IAMAT c +0-1000 1", ErrBadLocation},
		{"IAMAT c +1e1+1 1", ErrBadLocation},
		{"IAMAT c ++1+1 1", ErrBadLocation},
		{"IAMAT c + + 1", ErrFieldCount},
		// times
		{"IAMAT c +1+1 -1621464827", ErrBadTime},
		{"IAMAT c +1+1 +1621464827", ErrBadTime},
		{"IAMAT c +1+1 1.6e9", ErrBadTime},
		{"IAMAT c +1+1 NaN", ErrBadTime},
		{"IAMAT c +1+1 inf", ErrBadTime},
		{"IAMAT c +1+1 1621464827.", ErrBadTime},
		{"IAMAT c +1+1 .5", ErrBadTime},
		{"IAMAT c +1+1 1.2.3", ErrBadTime},
		{"IAMAT c +1+1 123456789012345678901", ErrBadTime},
		{"IAMAT c +1+1 0x10", ErrBadTime},
		// radius
		{"WHATSAT c 50.0001 5", ErrBadRadius},
		{"WHATSAT c 51 5", ErrBadRadius},
		{"WHATSAT c 0 5", ErrBadRadius},
		{"WHATSAT c 0.000 5", ErrBadRadius},
		{"WHATSAT c -1 5", ErrBadRadius},
		{"WHATSAT c +10 5", ErrBadRadius},
		{"WHATSAT c 1e1 5", ErrBadRadius},
		{"WHATSAT c ten 5", ErrBadRadius},
		{"WHATSAT c 10. 5", ErrBadRadius},
		// limit
		{"WHATSAT c 10 21", ErrBadLimit},
		{"WHATSAT c 10 0", ErrBadLimit},
		{"WHATSAT c 10 -1", ErrBadLimit},
		{"WHATSAT c 10 5.0", ErrBadLimit},
		{"WHATSAT c 10 99999999999999999999", ErrBadLimit},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Parse([]byte(tt.line))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.line, err, tt.want)
			}
		})
	}
}

func TestParse_NoAllocs(t *testing.T) {
	lines := [][]byte{
		[]byte("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"),
		[]byte("WHATSAT kiwi.cs.ucla.edu 10 5"),
		[]byte("IAMAT c +1+1 NaN"),
	}
	for _, l := range lines {
		if n := testing.AllocsPerRun(100, func() { _, _ = Parse(l) }); n != 0 {
			t.Errorf("Parse(%q) allocates %.0f times per run, want 0", l, n)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"IAMAT", "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"},
		{"WHATSAT", "WHATSAT kiwi.cs.ucla.edu 10 5"},
		{"invalid", "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1.6e9"},
	} {
		line := []byte(bc.line)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				_, _ = Parse(line)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
		"WHATSAT kiwi.cs.ucla.edu 10 5",
		"IAMAT\tc\t-90.000+180.0\t0001.5000\r",
		"WHATSAT c 50.000 20",
		"AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
		"", " \v\f", "IAMAT c +90.1-0 1", "IAMAT caf\xe9 +1+1 1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := Parse(line)
		if err != nil {
			return
		}
		if c.Kind != Empty && !utf8.Valid(c.Client) {
			t.Fatalf("accepted client %q, not UTF-8", c.Client)
		}
		switch c.Kind {
		case IAMAT:
			if len(c.Client) == 0 || len(c.Client) > 256 {
				t.Fatalf("accepted client of %d bytes", len(c.Client))
			}
		case WHATSAT:
			if c.Limit < 1 || c.Limit > 20 {
				t.Fatalf("accepted limit %d", c.Limit)
			}
		}
	})
}

func b(s string) []byte { return []byte(s) }

func rep(c byte, n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = c
	}
	return string(s)
}
