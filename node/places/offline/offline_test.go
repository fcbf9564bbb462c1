package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/geo/s2"

	"github.com/herdhq/herd/node/places"
)

// One decoded copy of the embedded data for the whole test binary: decoding
// is the slow part, and a Dataset is immutable.
var testData = sync.OnceValues(func() (*Dataset, error) { return LoadEmbedded() })

func embeddedProvider(t testing.TB) *Provider {
	t.Helper()
	ds, err := testData()
	if err != nil {
		t.Fatalf("LoadEmbedded: %v", err)
	}
	return NewWithDataset(ds)
}

// recordsByID maps GeonamesID to record, to check results against the data.
var recordsByID = sync.OnceValue(func() map[uint32]Record {
	m := map[uint32]Record{}
	if ds, err := testData(); err == nil {
		for i := range ds.places {
			m[ds.places[i].rec.GeonamesID] = ds.places[i].rec
		}
	}
	return m
})

// haversineM is the great-circle distance in metres, computed independently
// of S2 (same mean Earth radius as S2's earth package).
func haversineM(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371010.0
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Pow(math.Sin(dLat/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin(dLng/2), 2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

type result struct {
	places.Place
	rec  Record
	dist float64
}

// nearby runs q and decodes the results, checking the invariants every OK
// response must have: status, attribution, limit, radius, prominence order.
func nearby(t *testing.T, p *Provider, q places.Query) (places.Response, []result) {
	t.Helper()
	resp, err := p.Nearby(context.Background(), q)
	if err != nil {
		t.Fatalf("Nearby(%+v): %v", q, err)
	}
	if resp.Status != places.StatusOK {
		return resp, nil
	}
	if !slices.Equal(resp.HTMLAttributions, []string{Attribution}) {
		t.Errorf("html_attributions = %q", resp.HTMLAttributions)
	}
	if len(resp.Results) == 0 || len(resp.Results) > q.Limit || len(resp.Results) > MaxResults {
		t.Errorf("%d results for limit %d", len(resp.Results), q.Limit)
	}
	recs := recordsByID()
	var out []result
	for _, raw := range resp.Results {
		var r result
		if err := json.Unmarshal(raw, &r.Place); err != nil {
			t.Fatalf("result %s: %v", raw, err)
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(r.PlaceID, PlaceIDPrefix), 10, 32)
		if err != nil || !strings.HasPrefix(r.PlaceID, PlaceIDPrefix) || r.Reference != r.PlaceID {
			t.Fatalf("place_id %q reference %q", r.PlaceID, r.Reference)
		}
		r.rec = recs[uint32(id)]
		loc := r.Geometry.Location
		if r.Name != r.rec.Name || loc.Lat != float64(r.rec.LatE5)/1e5 || loc.Lng != float64(r.rec.LngE5)/1e5 {
			t.Errorf("result %s does not match record %+v", raw, r.rec)
		}
		if !slices.Equal(r.Types, []string{"locality", "political"}) || !strings.HasPrefix(r.Vicinity, r.Name+", ") {
			t.Errorf("result %s: types or vicinity", raw)
		}
		r.dist = haversineM(q.Lat, q.Lng, loc.Lat, loc.Lng)
		if r.dist > q.RadiusM*(1+1e-9) {
			t.Errorf("%s is %.1f m away, radius %.1f m", r.Name, r.dist, q.RadiusM)
		}
		if n := len(out); n > 0 {
			prev := out[n-1]
			if prev.rec.Population < r.rec.Population ||
				prev.rec.Population == r.rec.Population && prev.dist > r.dist+1e-6 {
				t.Errorf("%s (pop %d, %.0f m) ranked after %s (pop %d, %.0f m)",
					r.Name, r.rec.Population, r.dist, prev.Name, prev.rec.Population, prev.dist)
			}
		}
		out = append(out, r)
	}
	return resp, out
}

// UCLA, as in the classic project's example IAMAT.
const uclaLat, uclaLng = 34.068930, -118.445127

func TestProvider_Nearby_UCLA(t *testing.T) {
	p := embeddedProvider(t)
	q := places.Query{Lat: uclaLat, Lng: uclaLng, RadiusM: 10000, Limit: 20}
	_, res := nearby(t, p, q)
	var names []string
	for _, r := range res {
		names = append(names, r.Name)
	}
	for _, want := range []string{"Beverly Hills", "Santa Monica", "Culver City", "West Hollywood", "Westwood"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %q", want, names)
		}
	}
	if names[0] != "Santa Monica" {
		t.Errorf("most prominent = %s, want Santa Monica (the most populous within 10 km)", names[0])
	}
	bh := res[slices.Index(names, "Beverly Hills")]
	if bh.Vicinity != "Beverly Hills, CA, US" || bh.PlaceID != "geonames:5328041" {
		t.Errorf("Beverly Hills = %+v", bh.Place)
	}

	// The results are exactly the most prominent places a brute-force scan
	// with haversine finds within the radius.
	want := bruteForce(t, q)
	if len(want) != len(res) {
		t.Fatalf("%d results, brute force finds %d within the radius", len(res), len(want))
	}
	for i := range want {
		if want[i].GeonamesID != res[i].rec.GeonamesID {
			t.Errorf("result %d = %s, brute force %s", i, res[i].Name, want[i].Name)
		}
	}
}

// bruteForce scans every record, ranks those within the radius by
// population, then distance, then id, and keeps q.Limit.
func bruteForce(t *testing.T, q places.Query) []Record {
	t.Helper()
	type cand struct {
		r Record
		d float64
	}
	var cs []cand
	for _, r := range recordsByID() {
		if d := haversineM(q.Lat, q.Lng, float64(r.LatE5)/1e5, float64(r.LngE5)/1e5); d <= q.RadiusM {
			cs = append(cs, cand{r, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.r.Population != b.r.Population {
			return int(int64(b.r.Population) - int64(a.r.Population))
		}
		if a.d != b.d {
			return int(math.Copysign(1, a.d-b.d))
		}
		return int(int64(a.r.GeonamesID) - int64(b.r.GeonamesID))
	})
	var out []Record
	for _, c := range cs[:min(len(cs), q.Limit)] {
		out = append(out, c.r)
	}
	return out
}

// TestDataset_within compares the index with a brute-force haversine scan
// of all places, for centres in dense and empty areas, across the
// antimeridian and at both poles, with radii beyond the API limit too.
func TestDataset_within(t *testing.T) {
	ds, err := testData()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uint32, ds.Len())
	lats, lngs := make([]float64, ds.Len()), make([]float64, ds.Len())
	for i := range ds.places {
		r := &ds.places[i].rec
		ids[i], lats[i], lngs[i] = r.GeonamesID, float64(r.LatE5)/1e5, float64(r.LngE5)/1e5
	}
	radii := []float64{1000, 10000, 50000, 150000, 600000}
	for _, c := range []struct{ lat, lng float64 }{
		{uclaLat, uclaLng}, {48.8566, 2.3522}, {-18.06667, -179.9}, {-18.1, 179.9},
		{65, 180}, {90, 0}, {-90, 0}, {78.2, 15.6}, {0, -150},
	} {
		found := make([]map[uint32]bool, len(radii))
		for j, radius := range radii {
			found[j] = map[uint32]bool{}
			for _, h := range ds.within(s2.LatLngFromDegrees(c.lat, c.lng), radius) {
				i := h.rec.GeonamesID
				if found[j][i] {
					t.Fatalf("(%v, %v) %v m: %s found twice", c.lat, c.lng, radius, h.rec.Name)
				}
				found[j][i] = true
			}
		}
		for i := range lats {
			d := haversineM(c.lat, c.lng, lats[i], lngs[i])
			for j, radius := range radii {
				// Places within a micrometre of the boundary may go either way.
				if want := d <= radius; found[j][ids[i]] != want && math.Abs(d-radius) > 1e-6 {
					t.Errorf("(%v, %v) %v m: %s at %.1f m found=%v", c.lat, c.lng, radius, ds.places[i].rec.Name, d, !want)
				}
			}
		}
	}
}

func TestProvider_Nearby_Limit(t *testing.T) {
	p := embeddedProvider(t)
	for _, tc := range []struct{ limit, want int }{{1, 1}, {3, 3}, {20, 20}, {50, MaxResults}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			// Within 50 km of downtown Los Angeles there are hundreds of places.
			_, res := nearby(t, p, places.Query{Lat: 34.0522, Lng: -118.2437, RadiusM: 50000, Limit: tc.limit})
			if len(res) != tc.want {
				t.Fatalf("%d results, want %d", len(res), tc.want)
			}
			if res[0].Name != "Los Angeles" {
				t.Errorf("first = %s, want Los Angeles", res[0].Name)
			}
		})
	}
}

func TestProvider_Nearby_ZeroResults(t *testing.T) {
	p := embeddedProvider(t)
	for _, q := range []places.Query{
		{Lat: 0, Lng: -150, RadiusM: 50000, Limit: 20},      // mid-Pacific
		{Lat: -45, Lng: -30, RadiusM: 50000, Limit: 5},      // South Atlantic
		{Lat: 90, Lng: 0, RadiusM: 50000, Limit: 20},        // North Pole
		{Lat: -90, Lng: 180, RadiusM: 50000, Limit: 20},     // South Pole
		{Lat: uclaLat, Lng: uclaLng, RadiusM: 1, Limit: 20}, // one metre
	} {
		resp, err := p.Nearby(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(resp)
		if want := `{"html_attributions":[],"results":[],"status":"ZERO_RESULTS"}`; string(b) != want {
			t.Errorf("%+v: %s, want %s", q, b, want)
		}
	}
}

// TestProvider_Nearby_Antimeridian uses a small dataset with places on both
// sides of longitude 180, so that a 20 km radius spans it.
func TestProvider_Nearby_Antimeridian(t *testing.T) {
	p := NewWithDataset(NewDataset([]Record{
		{GeonamesID: 1, Name: "East", Country: "FJ", Population: 300, LatE5: -1800000, LngE5: 17995000},
		{GeonamesID: 2, Name: "West", Country: "FJ", Population: 200, LatE5: -1800000, LngE5: -17995000},
		{GeonamesID: 3, Name: "Far", Country: "FJ", Population: 900, LatE5: -1800000, LngE5: 17900000},
		{GeonamesID: 4, Name: "Edge", Country: "FJ", Population: 100, LatE5: -1800000, LngE5: 18000000},
	}))
	for _, lng := range []float64{179.99, -179.99, 180, -180} {
		resp, err := p.Nearby(context.Background(), places.Query{Lat: -18, Lng: lng, RadiusM: 20000, Limit: 20})
		if err != nil || resp.Status != places.StatusOK {
			t.Fatalf("lng %v: %+v, %v", lng, resp, err)
		}
		var names []string
		for _, raw := range resp.Results {
			var pl places.Place
			if err := json.Unmarshal(raw, &pl); err != nil {
				t.Fatal(err)
			}
			names = append(names, pl.Name)
		}
		if want := []string{"East", "West", "Edge"}; !slices.Equal(names, want) {
			t.Errorf("lng %v: %q, want %q", lng, names, want)
		}
	}
}

func TestProvider_Nearby_Poles(t *testing.T) {
	p := NewWithDataset(NewDataset([]Record{
		{GeonamesID: 1, Name: "Pole", Population: 10, LatE5: 9000000, LngE5: 0},
		{GeonamesID: 2, Name: "Near", Population: 5, LatE5: 8990000, LngE5: -17000000}, // 11 km from the pole
		{GeonamesID: 3, Name: "South", Population: 5, LatE5: -9000000, LngE5: 12345},
	}))
	for _, tc := range []struct {
		lat, lng float64
		want     []string
	}{
		{90, 0, []string{"Pole", "Near"}},
		{90, 123, []string{"Pole", "Near"}},
		{89.95, 10, []string{"Pole", "Near"}},
		{-90, -180, []string{"South"}},
		{-89.99, 180, []string{"South"}},
	} {
		resp, err := p.Nearby(context.Background(), places.Query{Lat: tc.lat, Lng: tc.lng, RadiusM: 20000, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, raw := range resp.Results {
			var pl places.Place
			_ = json.Unmarshal(raw, &pl)
			names = append(names, pl.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("(%v, %v): %q (%s), want %q", tc.lat, tc.lng, names, resp.Status, tc.want)
		}
	}
}

func TestProvider_Nearby_Deterministic(t *testing.T) {
	q := places.Query{Lat: 40.7128, Lng: -74.0060, RadiusM: 30000, Limit: 20}
	var first []byte
	for _, p := range []*Provider{embeddedProvider(t), embeddedProvider(t)} {
		for range 2 {
			resp, err := p.Nearby(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if string(b) != string(first) {
				t.Fatalf("same query, different bytes:\n%s\n%s", first, b)
			}
		}
	}
}

// TestNewDataset_InputOrder: the index, hence every answer, does not depend
// on the order of the records it is built from.
func TestNewDataset_InputOrder(t *testing.T) {
	recs := sampleRecords()
	// Two places in one leaf cell, to exercise the tie-break.
	recs = append(recs, Record{GeonamesID: 7, Name: "Twin", LatE5: 3407362, LngE5: -11840036})
	a := NewDataset(recs)
	slices.Reverse(recs)
	b := NewDataset(recs)
	if !slices.Equal(a.cells, b.cells) || !slices.Equal(a.places, b.places) {
		t.Fatal("index depends on input order")
	}
}

func TestProvider_Nearby_Invalid(t *testing.T) {
	p := embeddedProvider(t)
	ok := places.Query{Lat: uclaLat, Lng: uclaLng, RadiusM: 1000, Limit: 5}
	for _, tc := range []struct {
		name string
		edit func(q *places.Query)
	}{
		{"lat > 90", func(q *places.Query) { q.Lat = 90.0001 }},
		{"lat < -90", func(q *places.Query) { q.Lat = -91 }},
		{"lat NaN", func(q *places.Query) { q.Lat = math.NaN() }},
		{"lng > 180", func(q *places.Query) { q.Lng = 180.5 }},
		{"lng -Inf", func(q *places.Query) { q.Lng = math.Inf(-1) }},
		{"radius 0", func(q *places.Query) { q.RadiusM = 0 }},
		{"radius negative", func(q *places.Query) { q.RadiusM = -5 }},
		{"radius NaN", func(q *places.Query) { q.RadiusM = math.NaN() }},
		{"radius Inf", func(q *places.Query) { q.RadiusM = math.Inf(1) }},
		{"radius > 50 km", func(q *places.Query) { q.RadiusM = 50000.1 }},
		{"limit 0", func(q *places.Query) { q.Limit = 0 }},
		{"limit negative", func(q *places.Query) { q.Limit = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := ok
			tc.edit(&q)
			resp, err := p.Nearby(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != places.StatusInvalidRequest || resp.ErrorMessage == "" || len(resp.Results) != 0 || resp.Results == nil {
				t.Fatalf("%+v", resp)
			}
		})
	}
}

func TestProvider_Nearby_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := New()
	if _, err := p.Nearby(ctx, places.Query{Lat: uclaLat, Lng: uclaLng, RadiusM: 1000, Limit: 5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Nearby = %v, want context.Canceled", err)
	}
}

// TestProvider_Nearby_Concurrent has many goroutines race to the lazy load
// of a fresh provider (run with -race): the data is loaded exactly once.
func TestProvider_Nearby_Concurrent(t *testing.T) {
	var loads atomic.Int32
	p := &Provider{load: func() (*Dataset, error) {
		loads.Add(1)
		return NewDataset(sampleRecords()), nil
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			q := places.Query{Lat: 34.07, Lng: -118.4 + float64(i)/1000, RadiusM: 5000, Limit: 3}
			resp, err := p.Nearby(context.Background(), q)
			if err == nil && len(resp.Results) != 1 {
				err = fmt.Errorf("%d results, want Beverly Hills only", len(resp.Results))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("loaded %d times", n)
	}
}

// TestProvider_Load loads the embedded data through New, as a node does.
func TestProvider_Load(t *testing.T) {
	p := New()
	ds, err := p.Load()
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() < 100000 {
		t.Fatalf("%d places, want more than 100,000", ds.Len())
	}
	if again, _ := p.Load(); again != ds {
		t.Fatal("second Load decoded again")
	}
}

func TestProvider_Load_Error(t *testing.T) {
	p := &Provider{load: func() (*Dataset, error) { return nil, ErrCorrupt }}
	if _, err := p.Nearby(context.Background(), places.Query{Lat: 1, Lng: 1, RadiusM: 1, Limit: 1}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Nearby = %v, want the load error", err)
	}
}

func TestVicinity(t *testing.T) {
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Name: "Beverly Hills", AdminCode: "CA", Country: "US"}, "Beverly Hills, CA, US"},
		{Record{Name: "Toronto", AdminCode: "08", Country: "CA"}, "Toronto, CA"},
		{Record{Name: "London", AdminCode: "ENG", Country: "GB"}, "London, ENG, GB"},
		{Record{Name: "Nowhere"}, "Nowhere"},
	} {
		if got := vicinity(&tc.r); got != tc.want {
			t.Errorf("vicinity(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// At most GOMAXPROCS searches of one provider run at once; another waits
// (parked) for a slot, and gives up when its context ends.
func TestProvider_Nearby_Bounded(t *testing.T) {
	p := &Provider{load: func() (*Dataset, error) { return NewDataset(sampleRecords()), nil }}
	if _, err := p.Load(); err != nil {
		t.Fatal(err)
	}
	q := places.Query{Lat: 34.07, Lng: -118.4, RadiusM: 5000, Limit: 3}
	for range runtime.GOMAXPROCS(0) {
		p.slots <- struct{}{} // searches in progress
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Nearby(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Nearby with every slot taken = %v, want it to wait until its context ends", err)
	}
	<-p.slots // one search done
	if resp, err := p.Nearby(context.Background(), q); err != nil || len(resp.Results) != 1 {
		t.Fatalf("Nearby with a free slot = %d results, %v; want Beverly Hills", len(resp.Results), err)
	}
}
