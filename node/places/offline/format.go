package offline

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// The data file is a gzip stream (no name, zero modification time, best
// compression) of this uncompressed layout:
//
//	magic   "HERDPL1\n"
//	count   uvarint
//	count records, sorted by GeonamesID ascending, each:
//	  id delta   uvarint  GeonamesID minus the previous record's (first: minus 0), >= 1
//	  lat delta  varint   LatE5 minus the previous record's (first: minus 0)
//	  lng delta  varint   LngE5 minus the previous record's
//	  population uvarint
//	  name, country, admin code, feature code: uvarint length then UTF-8 bytes
//
// Sorting by GeoNames id keeps the file independent of floating point (no
// cell ids are stored), and GeoNames ids are assigned in regional batches,
// so the coordinate deltas stay small and gzip finds the repeated codes.
const magic = "HERDPL1\n"

// Limits that keep a corrupt or hostile file from making the decoder
// allocate without bound. The real dataset is far below them.
const (
	maxRawSize   = 64 << 20 // decompressed bytes
	minRecordLen = 8        // id, lat, lng, population, four string lengths
	maxStringLen = 1 << 10
	maxLatE5     = 90 * 1e5
	maxLngE5     = 180 * 1e5

	maxDeflateRatio = 1032 // the most deflate can expand its input
)

var (
	// ErrCorrupt is wrapped by every Decode error about the file's content.
	ErrCorrupt = errors.New("corrupt places data")
	// ErrInvalidRecord is wrapped by Encode errors about a record it
	// cannot store (so that Decode would not give it back unchanged).
	ErrInvalidRecord = errors.New("invalid place record")
)

// Record is one populated place as stored in the data file.
type Record struct {
	GeonamesID  uint32 // geonameid, > 0, unique
	Name        string // UTF-8, non-empty
	Country     string // ISO 3166-1 alpha-2 country code
	AdminCode   string // GeoNames admin1 code (a US state, "ENG", "08", ...), may be empty
	FeatureCode string // GeoNames feature code (PPL, PPLA, PPLC, PPLX, ...)
	Population  uint32
	LatE5       int32 // latitude in degrees × 1e5, within ±9,000,000
	LngE5       int32 // longitude in degrees × 1e5, within ±18,000,000
}

func (r Record) validate() error {
	switch {
	case r.GeonamesID == 0:
		return fmt.Errorf("%w: geonames id 0", ErrInvalidRecord)
	case r.Name == "":
		return fmt.Errorf("%w: %d: empty name", ErrInvalidRecord, r.GeonamesID)
	case r.LatE5 < -maxLatE5 || r.LatE5 > maxLatE5:
		return fmt.Errorf("%w: %d: latitude %d out of range", ErrInvalidRecord, r.GeonamesID, r.LatE5)
	case r.LngE5 < -maxLngE5 || r.LngE5 > maxLngE5:
		return fmt.Errorf("%w: %d: longitude %d out of range", ErrInvalidRecord, r.GeonamesID, r.LngE5)
	}
	for _, s := range []string{r.Name, r.Country, r.AdminCode, r.FeatureCode} {
		if len(s) > maxStringLen || !utf8.ValidString(s) {
			return fmt.Errorf("%w: %d: string %q too long or not UTF-8", ErrInvalidRecord, r.GeonamesID, s)
		}
	}
	return nil
}

// Encode writes recs as a data file to w. The output depends only on the set
// of records (they are sorted by GeonamesID; recs itself is not modified) and
// on the Go version's compress/flate, so the same input gives the same bytes.
func Encode(w io.Writer, recs []Record) error {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b Record) int { return cmp.Compare(a.GeonamesID, b.GeonamesID) })

	var raw bytes.Buffer
	raw.WriteString(magic)
	raw.Write(binary.AppendUvarint(nil, uint64(len(sorted))))
	var prev Record
	var buf []byte
	for i, r := range sorted {
		if err := r.validate(); err != nil {
			return err
		}
		if i > 0 && r.GeonamesID == prev.GeonamesID {
			return fmt.Errorf("%w: duplicate geonames id %d", ErrInvalidRecord, r.GeonamesID)
		}
		buf = binary.AppendUvarint(buf[:0], uint64(r.GeonamesID-prev.GeonamesID))
		buf = binary.AppendVarint(buf, int64(r.LatE5)-int64(prev.LatE5))
		buf = binary.AppendVarint(buf, int64(r.LngE5)-int64(prev.LngE5))
		buf = binary.AppendUvarint(buf, uint64(r.Population))
		for _, s := range []string{r.Name, r.Country, r.AdminCode, r.FeatureCode} {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
		raw.Write(buf)
		prev = r
	}
	if raw.Len() > maxRawSize {
		return fmt.Errorf("%w: %d bytes uncompressed, limit %d", ErrInvalidRecord, raw.Len(), maxRawSize)
	}

	// A zero gzip.Header: no name, no comment, zero ModTime, so the
	// output carries no trace of when or where it was made.
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("create gzip writer: %w", err)
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return fmt.Errorf("write places data: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write places data: %w", err)
	}
	return nil
}

// Decode parses a data file written by Encode. Records come back sorted by
// GeonamesID. Their strings share one backing allocation. Any damage is
// reported as an error wrapping ErrCorrupt; Decode never panics.
func Decode(data []byte) ([]Record, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: open gzip: %w", ErrCorrupt, err)
	}
	var raw strings.Builder
	// The gzip trailer's ISIZE (size mod 2^32) presizes the buffer. It is
	// only a hint, capped by what deflate can expand len(data) bytes to, so
	// a corrupt trailer cannot force a large allocation; the read stays
	// bounded by the limit either way.
	if len(data) >= 4 {
		hint := min(uint64(binary.LittleEndian.Uint32(data[len(data)-4:])), maxRawSize+1, maxDeflateRatio*uint64(len(data)))
		raw.Grow(int(hint))
	}
	if _, err := io.Copy(&raw, io.LimitReader(zr, maxRawSize+1)); err != nil {
		return nil, fmt.Errorf("%w: decompress: %w", ErrCorrupt, err)
	}
	if raw.Len() > maxRawSize {
		return nil, fmt.Errorf("%w: more than %d bytes uncompressed", ErrCorrupt, maxRawSize)
	}
	return decodeRaw(raw.String())
}

// decodeRaw parses the uncompressed layout. It takes a string so that every
// record's strings are substrings of it: one allocation for all names.
func decodeRaw(raw string) ([]Record, error) {
	d := rawDecoder{s: raw}
	if len(raw) < len(magic) || raw[:len(magic)] != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	d.off = len(magic)
	count := d.uvarint()
	if d.err == nil && count > uint64(len(raw)-d.off)/minRecordLen {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrCorrupt, count, len(raw)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	recs := make([]Record, 0, count)
	var id uint64
	var lat, lng int64
	for i := uint64(0); i < count; i++ {
		dID := d.uvarint()
		dLat := d.varint()
		dLng := d.varint()
		pop := d.uvarint()
		name, country, admin, feature := d.str(), d.str(), d.str(), d.str()
		if d.err != nil {
			return nil, fmt.Errorf("record %d: %w", i, d.err)
		}
		// Bounding each delta keeps the sums below from overflowing.
		if dID == 0 || dID > 1<<32 || dLat < -2*maxLatE5 || dLat > 2*maxLatE5 ||
			dLng < -2*maxLngE5 || dLng > 2*maxLngE5 || pop > 1<<32-1 {
			return nil, fmt.Errorf("%w: record %d: field out of range", ErrCorrupt, i)
		}
		id, lat, lng = id+dID, lat+dLat, lng+dLng
		r := Record{
			GeonamesID: uint32(id), Name: name, Country: country, AdminCode: admin, FeatureCode: feature,
			Population: uint32(pop), LatE5: int32(lat), LngE5: int32(lng),
		}
		if id > 1<<32-1 {
			return nil, fmt.Errorf("%w: record %d: geonames id overflows", ErrCorrupt, i)
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrCorrupt, i, err)
		}
		recs = append(recs, r)
	}
	if d.off != len(raw) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(raw)-d.off)
	}
	return recs, nil
}

// rawDecoder reads varints and strings from s, remembering the first error
// so that a record's fields can be read in a row and checked once.
type rawDecoder struct {
	s   string
	off int
	err error
}

func (d *rawDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.s) {
			d.err = fmt.Errorf("%w: truncated varint", ErrCorrupt)
			return 0
		}
		b := d.s[d.off]
		d.off++
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	d.err = fmt.Errorf("%w: varint overflows 64 bits", ErrCorrupt)
	return 0
}

func (d *rawDecoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *rawDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(d.s)-d.off) {
		d.err = fmt.Errorf("%w: string length %d", ErrCorrupt, n)
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
