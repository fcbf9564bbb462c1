package bus

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/record"
)

// countStore stores nothing and counts records; every record is newer, as
// for an origin's fresh IAMATs. (Anti-entropy is not part of the bus.)
type countStore struct{ n atomic.Int64 }

func (s *countStore) PutViews(recs []record.Record, newer []bool) {
	s.n.Add(int64(len(recs)))
	for i := range recs {
		newer[i] = true
	}
}

// BenchmarkFlood_FanOut publishes records at an origin bus and waits
// until each of its neighbors' buses has received every one, through a
// real embedded NATS server: the per-record cost of coalescing, publishing,
// routing, parsing and storing at every neighbor. At most half the
// publish queue is in flight, so nothing is dropped.
func BenchmarkFlood_FanOut(b *testing.B) {
	for _, fan := range []int{1, 3} {
		b.Run(fmt.Sprintf("neighbors=%d", fan), func(b *testing.B) {
			ns := bustest.StartNATS(b)
			var names []string
			var stores []*countStore
			for i := range fan {
				name := fmt.Sprintf("N%d", i)
				names = append(names, name)
				st := &countStore{}
				stores = append(stores, st)
				// Receivers' only neighbor is the origin: no relay.
				startBusOn(b, ns, name, []string{"Origin"}, st, nil, nil)
			}
			origin := startBusOn(b, ns, "Origin", names, &countStore{}, nil, nil)
			// Every record is distinct: receivers recognise a line they
			// have stored are not newer, and the bench is of records that are.
			recs := make([]record.Record, 1<<14)
			fill := func(round int) {
				for i := range recs {
					r, err := record.Parse(fmt.Appendf(nil, "AT Origin +0.263873386 client%05d.cs.ucla.edu +34.068930-118.445127 %d.%09d", i, 1621464827+round, i))
					if err != nil {
						b.Fatal(err)
					}
					recs[i] = r
				}
			}
			fill(0)
			const inFlight = 1 << 14
			lagging := func(want int64) bool {
				for _, st := range stores {
					if st.n.Load() < want {
						return true
					}
				}
				return false
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i > 0 && i&(len(recs)-1) == 0 {
					b.StopTimer()
					fill(i / len(recs))
					b.StartTimer()
				}
				origin.Publish(recs[i&(len(recs)-1)])
				if i%1024 == 0 {
					for lagging(int64(i - inFlight)) {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for lagging(int64(b.N)) {
				if time.Now().After(deadline) {
					b.Fatalf("neighbors did not receive all %d records", b.N)
				}
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
