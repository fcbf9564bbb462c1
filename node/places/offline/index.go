package offline

import (
	"cmp"
	"slices"

	"github.com/golang/geo/s1"
	"github.com/golang/geo/s2"
)

// Dataset is a decoded data file with its spatial index: every place's S2
// leaf cell, sorted, so that the places inside one cell of a covering are a
// contiguous range found by binary search. A Dataset is immutable after
// construction and safe to share between Providers and goroutines.
type Dataset struct {
	cells  []s2.CellID // leaf cell of places[i], ascending
	places []indexed   // in cell order
}

type indexed struct {
	pt  s2.Point
	rec Record
}

// hit is one place found within a query's radius.
type hit struct {
	rec  *Record
	dist s1.ChordAngle // to the query centre; monotonic in great-circle distance
}

// EarthRadiusM is the Earth's mean radius in metres, the value S2 (and its
// earth package) uses to turn distances into angles.
const EarthRadiusM = 6371010.0

// coverCells bounds how many cells a query's covering has. A handful keeps
// the covering cheap to compute while wasting little area outside the cap.
const coverCells = 8

// NewDataset indexes recs. The input slice is not kept or modified.
func NewDataset(recs []Record) *Dataset {
	cells := make([]s2.CellID, len(recs))
	order := make([]int32, len(recs))
	for i, r := range recs {
		cells[i] = s2.CellIDFromLatLng(latLng(r))
		order[i] = int32(i)
	}
	// Sorting a permutation moves 4-byte indices instead of whole records.
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(cells[a], cells[b]); c != 0 {
			return c
		}
		// Two places in one leaf cell (about a square centimetre): order
		// by id so that the index does not depend on the input order.
		return cmp.Compare(recs[a].GeonamesID, recs[b].GeonamesID)
	})
	d := &Dataset{cells: make([]s2.CellID, len(recs)), places: make([]indexed, len(recs))}
	for i, j := range order {
		r := recs[j]
		d.cells[i] = cells[j]
		d.places[i] = indexed{pt: s2.PointFromLatLng(latLng(r)), rec: r}
	}
	return d
}

// Len is the number of places in d.
func (d *Dataset) Len() int { return len(d.places) }

func latLng(r Record) s2.LatLng {
	return s2.LatLngFromDegrees(float64(r.LatE5)/1e5, float64(r.LngE5)/1e5)
}

// within returns every place whose great-circle distance from centre is at
// most radiusM metres, in index order. radiusM must be positive and finite.
func (d *Dataset) within(centre s2.LatLng, radiusM float64) []hit {
	pt := s2.PointFromLatLng(centre)
	radius := s1.ChordAngleFromAngle(s1.Angle(radiusM / EarthRadiusM))
	c := s2.CapFromCenterChordAngle(pt, radius)
	coverer := s2.RegionCoverer{MaxLevel: s2.MaxLevel, LevelMod: 1, MaxCells: coverCells}
	var hits []hit
	for _, cell := range coverer.Covering(c) {
		lo, _ := slices.BinarySearch(d.cells, cell.RangeMin())
		hi, _ := slices.BinarySearch(d.cells[lo:], cell.RangeMax()+1)
		for i := lo; i < lo+hi; i++ {
			p := &d.places[i]
			if dist := s2.ChordAngleBetweenPoints(pt, p.pt); dist <= radius {
				hits = append(hits, hit{rec: &p.rec, dist: dist})
			}
		}
	}
	return hits
}

// byProminence orders hits as a Nearby Search ranks by prominence: the most
// populous first, then the nearest, then the lowest GeoNames id, so that the
// order is total and every query gives the same answer.
func byProminence(a, b hit) int {
	return cmp.Or(
		cmp.Compare(b.rec.Population, a.rec.Population),
		cmp.Compare(a.dist, b.dist),
		cmp.Compare(a.rec.GeonamesID, b.rec.GeonamesID),
	)
}
