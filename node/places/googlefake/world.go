package googlefake

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Place is one place of a fake's world, neutral to the wire formats: each
// server renders it in its own field names.
type Place struct {
	ID              string // place_id / id, e.g. "ChIJ..."
	Name            string
	Lat, Lng        float64
	Address         string // short address (vicinity / shortFormattedAddress)
	Types           []string
	Rating          float64 // 0 means unrated
	UserRatingCount int
	BusinessStatus  string // "OPERATIONAL", "CLOSED_TEMPORARILY", ...
	PriceLevel      int    // 0..4; -1 means unknown
}

// earthRadiusM is the mean Earth radius used for distances and offsets.
const earthRadiusM = 6371008.8

// distanceM is the great-circle distance in metres.
func distanceM(lat1, lng1, lat2, lng2 float64) float64 {
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// offset moves (lat, lng) by d metres on bearing b radians.
func offset(lat, lng, d, b float64) (float64, float64) {
	p1, l1, ad := lat*math.Pi/180, lng*math.Pi/180, d/earthRadiusM
	p2 := math.Asin(math.Sin(p1)*math.Cos(ad) + math.Cos(p1)*math.Sin(ad)*math.Cos(b))
	l2 := l1 + math.Atan2(math.Sin(b)*math.Sin(ad)*math.Cos(p1), math.Cos(ad)-math.Sin(p1)*math.Sin(p2))
	lng2 := math.Mod(l2*180/math.Pi+540, 360) - 180
	return round7(p2 * 180 / math.Pi), round7(lng2)
}

// round7 keeps 7 decimals, as Google's coordinates have.
func round7(x float64) float64 { return math.Round(x*1e7) / 1e7 }

// kinds are the generated places' names and types.
var kinds = [...]struct {
	name  string
	types []string
}{
	{"Cafe", []string{"cafe", "food", "point_of_interest", "establishment"}},
	{"Bakery", []string{"bakery", "store", "food", "point_of_interest", "establishment"}},
	{"Library", []string{"library", "point_of_interest", "establishment"}},
	{"Park", []string{"park", "point_of_interest", "establishment"}},
	{"Restaurant", []string{"restaurant", "food", "point_of_interest", "establishment"}},
	{"Pharmacy", []string{"pharmacy", "health", "store", "point_of_interest", "establishment"}},
	{"Museum", []string{"museum", "tourist_attraction", "point_of_interest", "establishment"}},
	{"Hotel", []string{"lodging", "point_of_interest", "establishment"}},
}

// generate makes n places within radiusM of the point, the same ones for
// the same arguments, nearest first.
func generate(seed uint64, lat, lng, radiusM float64, n int) []Place {
	h := fnv.New64a()
	var b [8]byte
	for _, x := range []float64{lat, lng, radiusM} {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
		h.Write(b[:])
	}
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	out := make([]Place, 0, n)
	for i := range n {
		// sqrt keeps the points uniform over the disc; 0.95 keeps rounding
		// from pushing one outside the radius.
		d := radiusM * 0.95 * math.Sqrt(rng.Float64())
		plat, plng := offset(lat, lng, d, rng.Float64()*2*math.Pi)
		k := kinds[rng.IntN(len(kinds))]
		var idb [20]byte
		for j := range idb {
			idb[j] = byte(rng.Uint32())
		}
		p := Place{
			ID:              "ChIJ" + base64.RawURLEncoding.EncodeToString(idb[:]),
			Name:            fmt.Sprintf("%s %d", k.name, i+1),
			Lat:             plat,
			Lng:             plng,
			Address:         fmt.Sprintf("%d Fake Street, Testville", 1+rng.IntN(999)),
			Types:           slices.Clone(k.types),
			Rating:          math.Round((1+rng.Float64()*4)*10) / 10,
			UserRatingCount: 1 + rng.IntN(5000),
			BusinessStatus:  "OPERATIONAL",
			PriceLevel:      rng.IntN(5) - 1,
		}
		out = append(out, p)
	}
	sortByDistance(out, lat, lng)
	return out
}

// search returns up to n places of the world within radiusM, nearest
// first; with no world it generates them.
func search(world []Place, seed uint64, lat, lng, radiusM float64, n int) []Place {
	if len(world) == 0 {
		return generate(seed, lat, lng, radiusM, n)
	}
	var in []Place
	for _, p := range world {
		if distanceM(lat, lng, p.Lat, p.Lng) <= radiusM {
			in = append(in, p)
		}
	}
	sortByDistance(in, lat, lng)
	if len(in) > n {
		in = in[:n]
	}
	return in
}

func sortByDistance(ps []Place, lat, lng float64) {
	sort.SliceStable(ps, func(i, j int) bool {
		return distanceM(lat, lng, ps[i].Lat, ps[i].Lng) < distanceM(lat, lng, ps[j].Lat, ps[j].Lng)
	})
}

// viewport is a box of about 150 m around a place, as Google gives one.
func viewport(p Place) (swLat, swLng, neLat, neLng float64) {
	const d = 0.00135
	return round7(p.Lat - d), round7(p.Lng - d), round7(p.Lat + d), round7(p.Lng + d)
}

// plusCode is a stand-in Open Location Code: right shape, not a real
// encoding of the point.
func plusCode(p Place) (global, compound string) {
	const alphabet = "23456789CFGHJMPQRVWX"
	v := uint64(math.Abs(p.Lat*1e5)) ^ uint64(math.Abs(p.Lng*1e5))<<20
	var b [10]byte
	for i := range b {
		b[i] = alphabet[v%20]
		v /= 20
	}
	g := string(b[:8]) + "+" + string(b[8:])
	return g, g[4:] + " Testville"
}
