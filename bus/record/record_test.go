package record

import (
	"errors"
	"math"
	"testing"
)

func TestCompareTime(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"1", "1.0", 0},
		{"001.500", "1.5", 0},
		{"0", "0.0000", 0},
		{"2", "10", -1},
		{"10", "9.999999999999", 1},
		{"1621464827.959498503", "1621464827.959498504", -1},
		{"1621464827.9594985031", "1621464827.959498503", 1},
		{"1621464827.95949850300000001", "1621464827.959498503", 1},
		{"12345678901234567890", "12345678901234567889.99", 1},
		{"0.1", "0.09", 1},
	}
	for _, tt := range tests {
		if got := CompareTime(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareTime(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareTime(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareTime(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	const now = 1621464828_223372037 // ns
	tests := []struct {
		now  int64
		t    string
		want int64
		ok   bool
	}{
		{now, "1621464827.959498651", 263873386, true},
		{now, "1621464830.223372037", -2_000000000, true},
		{now, "1621464828", 223372037, true},
		{now, "1621464828.223372037", 0, true},
		{now, "0", now, true},
		{now, "0000001621464828.2233720370000", 0, true},
		// sub-nanosecond digits round to nearest, ties to even
		{now, "1621464828.2233720364", 1, true},     // 0.6 ns → 1
		{now, "1621464828.2233720366", 0, true},     // 0.4 ns → 0
		{now, "1621464828.2233720365", 0, true},     // 0.5 ns → 0 (even)
		{now, "1621464828.2233720355", 2, true},     // 1.5 ns → 2 (even)
		{now, "1621464828.22337203650001", 0, true}, // 0.49999 ns → 0
		// int64 bounds
		{0, "9223372036.854775807", math.MinInt64 + 1, true},
		{0, "9223372036.854775808", math.MinInt64, true},
		{0, "9223372036.854775809", 0, false},
		{math.MaxInt64, "0", math.MaxInt64, true},
		{-1, "9223372036.854775807", math.MinInt64, true},
		{-1, "9223372036.854775808", 0, false},
		{now, "99999999999999999999", 0, false},
		{now, "18446744073.709551616", 0, false},
	}
	for _, tt := range tests {
		got, ok := Diff(tt.now, []byte(tt.t))
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("Diff(%d, %s) = %d, %v; want %d, %v", tt.now, tt.t, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendDiff(t *testing.T) {
	tests := []struct {
		d    int64
		want string
	}{
		{263873386, "+0.263873386"},
		{-2_000000000, "-2.000000000"},
		{0, "+0.000000000"},
		{-1, "-0.000000001"},
		{123_456789012, "+123.456789012"},
		{math.MaxInt64, "+9223372036.854775807"},
		{math.MinInt64, "-9223372036.854775808"},
	}
	for _, tt := range tests {
		if got := string(AppendDiff(nil, tt.d)); got != tt.want {
			t.Errorf("AppendDiff(%d) = %s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	line := "AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
	r, err := Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if r.Line != line || r.Origin() != "Goloman" || r.Diff() != "+0.263873386" || r.Client() != "kiwi.cs.ucla.edu" ||
		r.Location() != "+34.068930-118.445127" || r.Time() != "1621464827.959498503" {
		t.Fatalf("fields: %q %q %q %q %q", r.Origin(), r.Diff(), r.Client(), r.Location(), r.Time())
	}
}

func TestParse_Invalid(t *testing.T) {
	tests := []struct {
		line string
		want error
	}{
		{"IAMAT c +1+1 1", ErrNotAT},
		{"AT Goloman +0.1 c +1+1", ErrFieldCount},
		{"AT Goloman +0.000000001 c +1+1 1 x", ErrFieldCount},
		{"AT Goloman  +0.000000001 c +1+1", ErrFieldCount},
		{"AT Gol.oman +0.000000001 c +1+1 1", ErrBadName},
		{"AT  +0.000000001 c +1 1", ErrFieldCount},
		{"AT Goloman 0.000000001 c +1+1 1", ErrBadTime},
		{"AT Goloman +0.00000001 c +1+1 1", ErrBadTime},
		{"AT Goloman +0.00000000x c +1+1 1", ErrBadTime},
		{"AT Goloman +0.000000001 c +91+1 1", ErrBadLocation},
		{"AT Goloman +0.000000001 c +1+1 -1", ErrBadTime},
		{"AT Goloman +0.000000001 c\tx +1+1 1", ErrClientLong},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.line)); !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.line, err, tt.want)
		}
	}
}

func mustParse(t *testing.T, line string) Record {
	t.Helper()
	r, err := Parse([]byte(line))
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	return r
}

func TestCompare(t *testing.T) {
	base := mustParse(t, "AT Hands +0.000000001 c +1+1 100.5")
	tests := []struct {
		name string
		line string
		want int
	}{
		{"later time", "AT Hands +0.000000001 c +1+1 100.50001", 1},
		{"earlier time", "AT Hands +0.000000001 c +1+1 100.4", -1},
		{"equal time, greater origin", "AT Wilkes +0.000000001 c +1+1 100.5", 1},
		{"equal time, smaller origin", "AT Goloman +0.000000001 c +1+1 100.50", -1},
		{"equal time and origin, greater location", "AT Hands +0.000000001 c +2+1 100.5", 1},
		{"equal time and origin, smaller location", "AT Hands +0.000000001 c +0+1 100.5", -1},
		{"equal but for the diff", "AT Hands -5.000000000 c +1+1 100.5", 0},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.line)
		if got := Compare(r, base); got != tt.want {
			t.Errorf("%s: Compare = %d, want %d", tt.name, got, tt.want)
		}
		if got := Newer(r, base); got != (tt.want > 0) {
			t.Errorf("%s: Newer = %v", tt.name, got)
		}
	}
	if !Newer(base, Record{}) || Newer(Record{}, base) {
		t.Error("zero record must be older than any record")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	f.Add([]byte("AT Hands -2.000000000 c -90+180 1"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		if r.Line != string(line) {
			t.Fatalf("line changed")
		}
		// Fields reassemble into the same line.
		got := "AT " + r.Origin() + " " + r.Diff() + " " + r.Client() + " " + r.Location() + " " + r.Time()
		if got != r.Line {
			t.Fatalf("fields %q != line %q", got, r.Line)
		}
		_ = Compare(r, r)
	})
}

func TestBuild(t *testing.T) {
	r := Build("Goloman", 263873386, []byte("kiwi.cs.ucla.edu"), []byte("+34.068930-118.445127"), []byte("1621464827.959498503"))
	want := "AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
	if r.Line != want {
		t.Fatalf("Line = %q, want %q", r.Line, want)
	}
	p := mustParse(t, want)
	if r != p {
		t.Fatalf("Build = %+v, Parse = %+v", r, p)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = Build("Goloman", -1, []byte("c"), []byte("+1+1"), []byte("1"))
	}); n != 1 {
		t.Fatalf("Build allocates %.0f times, want 1", n)
	}
}

func TestFromLine(t *testing.T) {
	for _, line := range []string{
		"AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
		"AT N -2.000000000 c +1+1 5",
	} {
		want, err := Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if got := FromLine(line); got != want {
			t.Errorf("FromLine(%q) = %+v, want %+v", line, got, want)
		}
		oe, cs, ce, le := want.Offsets()
		if got := Assemble(line, oe, cs, ce, le); got != want {
			t.Errorf("Assemble(%q, Offsets) = %+v, want %+v", line, got, want)
		}
		if got := ClientOf(line); got != want.Client() {
			t.Errorf("ClientOf(%q) = %q, want %q", line, got, want.Client())
		}
	}
}

func TestRecord_OriginNanos(t *testing.T) {
	for _, c := range []struct {
		line string
		want int64
		ok   bool
	}{
		{"AT N +0.263873386 c +1+1 1621464827.959498503", 1621464828_223371889, true},
		{"AT N -2.000000000 c +1+1 5", 3_000000000, true},
		{"AT N +0.000000000 c +1+1 0.0000000004", 0, true},
		{"AT N -9223372036.854775807 c +1+1 0", -9223372036_854775807, true},
		{"AT N -9223372036.854775808 c +1+1 0", 0, false}, // its negation overflows
		{"AT N -9000000000.000000000 c +1+1 99999999999999999999", 0, false},
	} {
		r, err := Parse([]byte(c.line))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := r.OriginNanos()
		if got != c.want || ok != c.ok {
			t.Errorf("%q: OriginNanos = %d, %v; want %d, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}
