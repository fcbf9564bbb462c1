package offline

import (
	"context"
	"fmt"
	"testing"

	"github.com/herdhq/herd/node/places"
)

// BenchmarkProvider_Nearby measures one WHATSAT-sized lookup in a dense
// area (UCLA, Los Angeles), index walk plus ranking plus JSON rendering.
func BenchmarkProvider_Nearby(b *testing.B) {
	p := embeddedProvider(b)
	for _, radius := range []float64{10000, 50000} {
		b.Run(fmt.Sprintf("radius=%.0fkm", radius/1000), func(b *testing.B) {
			q := places.Query{Lat: uclaLat, Lng: uclaLng, RadiusM: radius, Limit: 20}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := p.Nearby(context.Background(), q)
				if err != nil || resp.Status != places.StatusOK {
					b.Fatalf("%v %s", err, resp.Status)
				}
			}
		})
	}
}

// BenchmarkLoadEmbedded measures the one-off decode and index build.
func BenchmarkLoadEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadEmbedded(); err != nil {
			b.Fatal(err)
		}
	}
}
