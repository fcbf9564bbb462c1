package store

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/herdhq/herd/bus/record"
)

func rec(t testing.TB, origin, client, loc, tm string) record.Record {
	t.Helper()
	r, err := record.Parse([]byte("AT " + origin + " +0.000000001 " + client + " " + loc + " " + tm))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStore_Put(t *testing.T) {
	s := New()
	a := rec(t, "Hands", "c", "+1+1", "100")
	if !s.Put(a) {
		t.Fatal("first record not stored")
	}
	if s.Put(a) {
		t.Fatal("equal record stored again")
	}
	if s.Put(rec(t, "Hands", "c", "+1+1", "99.9")) {
		t.Fatal("older record stored")
	}
	b := rec(t, "Goloman", "c", "+5+5", "100.1")
	if !s.Put(b) {
		t.Fatal("newer record not stored")
	}
	got, ok := s.Get("c")
	if !ok || got.Line != b.Line {
		t.Fatalf("Get = %q, %v; want %q", got.Line, ok, b.Line)
	}
	if _, ok := s.Get("other"); ok {
		t.Fatal("Get of unknown client found a record")
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d", s.Len())
	}
}

// Whatever order the same records arrive in, every store ends with the same
// winner: the herd converges.
func TestStore_PutOrderIndependent(t *testing.T) {
	recs := []record.Record{
		rec(t, "Hands", "c", "+1+1", "100"),
		rec(t, "Goloman", "c", "+1+1", "100"),
		rec(t, "Wilkes", "c", "+1+1", "100.0"),
		rec(t, "Wilkes", "c", "+0+1", "100"),
		rec(t, "Welsh", "c", "+1+1", "99.99999"),
	}
	want := "AT Wilkes +0.000000001 c +1+1 100.0"
	perm(recs, 0, func(p []record.Record) {
		s := New()
		for _, r := range p {
			s.Put(r)
		}
		if got, _ := s.Get("c"); got.Line != want {
			t.Fatalf("order %v: winner %q, want %q", lines(p), got.Line, want)
		}
	})
}

func perm(a []record.Record, k int, fn func([]record.Record)) {
	if k == len(a) {
		fn(a)
		return
	}
	for i := k; i < len(a); i++ {
		a[k], a[i] = a[i], a[k]
		perm(a, k+1, fn)
		a[k], a[i] = a[i], a[k]
	}
}

func lines(rs []record.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Origin() + "@" + r.Time()
	}
	return out
}

// Concurrent writers of increasing times for shared clients, with readers
// ranging over the store meanwhile: every client ends with the maximum
// time any writer put (run with -race).
func TestStore_PutConcurrent(t *testing.T) {
	s := New()
	const writers, clients, steps = 8, 50, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range steps {
				for c := range clients {
					s.Put(rec(t, "Hands", fmt.Sprintf("c%d", c), "+1+1", fmt.Sprintf("%d.%d", i, w)))
				}
			}
		}()
	}
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range steps {
				_, _ = s.Get("c1")
				s.Range(func(record.Record) bool { return true })
			}
		}()
	}
	wg.Wait()
	wantNewest(t, s, clients, fmt.Sprintf("%d.%d", steps-1, writers-1))
}

// wantNewest checks that s holds clients c0.. c<clients-1>, each with
// client time want, and nothing else.
func wantNewest(t *testing.T, s *Store, clients int, want string) {
	t.Helper()
	for c := range clients {
		if got, _ := s.Get(fmt.Sprintf("c%d", c)); got.Time() != want {
			t.Fatalf("c%d: time %s, want %s", c, got.Time(), want)
		}
	}
	n := 0
	s.Range(func(record.Record) bool { n++; return true })
	if n != clients || s.Len() != clients {
		t.Fatalf("Range saw %d, Len %d, want %d", n, s.Len(), clients)
	}
}

func BenchmarkStore_Put(b *testing.B) {
	const n = 1 << 16
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = rec(b, "Goloman", fmt.Sprintf("client%d", i), "+34.068930-118.445127", "1621464827.959498503")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := New()
		i := 0
		for pb.Next() {
			s.Put(recs[i&(n-1)])
			i++
		}
	})
}

func BenchmarkStore_Get(b *testing.B) {
	const n = 1 << 16
	s := New()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("client%d", i)
		s.Put(rec(b, "Goloman", names[i], "+34.068930-118.445127", "1621464827.959498503"))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = s.Get(names[i&(n-1)])
			i++
		}
	})
}

// BenchmarkStore_Memory reports heap bytes per stored client at 1M clients,
// with realistic lines (about 85 bytes each).
func BenchmarkStore_Memory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New()
		for i := range n {
			line := fmt.Appendf(nil, "AT Goloman +0.263873386 client%07d.cs.ucla.edu +34.068930-118.445127 1621464827.959498503", i)
			r, err := record.Parse(line)
			if err != nil {
				b.Fatal(err)
			}
			s.Put(r)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/client")
		runtime.KeepAlive(s)
	}
}
