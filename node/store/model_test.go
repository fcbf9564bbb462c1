package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// model is what a store must hold, kept the plain way: each client's
// newest record and the one it replaced, and the settled hash by the rule
// of settle.go recomputed from them at the cursor.
type model struct {
	cur, prev map[string]record.Record
	cursor    uint32
}

func (m *model) put(r record.Record) bool {
	c := r.Client()
	old, ok := m.cur[c]
	if ok && !record.Newer(r, old) {
		return false
	}
	if ok {
		m.prev[c] = old
	}
	m.cur[c] = r
	return true
}

func (m *model) settledHash(c string) uint64 {
	if r := m.cur[c]; originSec(r) < m.cursor {
		return digest.Hash(r)
	}
	if p, ok := m.prev[c]; ok && originSec(p) < m.cursor {
		return digest.Hash(p)
	}
	return 0
}

// Random puts — newer, older, equal, equal spelled differently, from
// several origins — and cursor moves, with enough replacements that the
// slabs compact: after every step the store answers Put as the model
// does, and at checkpoints its records, sums and settled sums (bucket and
// group) equal the model's recomputed from scratch.
func TestStore_Model(t *testing.T) {
	runModel(t, rand.New(rand.NewPCG(1, 2)), 400, 60000, false)
}

// TestStore_ModelBatch is the model test through PutViews, in batches of
// random sizes up to beyond batchMax: a batch answers each record as
// PutView in turn would, records of one client within a batch included.
func TestStore_ModelBatch(t *testing.T) {
	runModel(t, rand.New(rand.NewPCG(3, 4)), 400, 60000, true)
	runModel(t, rand.New(rand.NewPCG(5, 6)), 20, 20000, true) // many records of a client per batch
}

// FuzzStore_Model runs the model test from other seeds, on fewer clients
// (more replacements each).
func FuzzStore_Model(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(1621464827))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		runModel(t, rand.New(rand.NewPCG(a, b)), 50, 5000, a%2 == 1)
	})
}

// runModel puts records one by one (PutView) or, with batch, in batches
// of 1 to 100 (PutViews).
func runModel(t *testing.T, rng *rand.Rand, clients, steps int, batch bool) {
	t.Helper()
	s := New()
	var (
		recs  []record.Record
		wants []bool
		bufs  [][]byte
		size  = 1
	)
	flush := func() {
		if len(recs) == 0 {
			return
		}
		lines := make([]string, len(recs))
		for i, r := range recs {
			lines[i] = r.Line
		}
		got := make([]bool, len(recs))
		s.PutViews(recs, got)
		for i, want := range wants {
			if got[i] != want {
				t.Fatalf("PutViews: record %d of %d (%q) = %v, model says %v", i, len(recs), lines[i], got[i], want)
			}
			if recs[i].Line != lines[i] {
				t.Fatalf("PutViews: record %d became %q, want %q", i, recs[i].Line, lines[i])
			}
		}
		// The views' bytes are the caller's again: what the store kept
		// must not change (checkModel reads it).
		for i := range bufs {
			for j := range bufs[i] {
				bufs[i][j] = '#'
			}
		}
		recs, wants, bufs, size = recs[:0], wants[:0], bufs[:0], 1+rng.IntN(100)
	}
	m := &model{cur: map[string]record.Record{}, prev: map[string]record.Record{}}
	origins := []string{"Hands", "Goloman", "Welsh"}
	next := make([]int, clients) // the newest client time handed out
	for c := range next {
		next[c] = 10
	}
	for step := range steps {
		c := rng.IntN(clients)
		tm := next[c] + rng.IntN(3) - 1 // older, equal or newer
		next[c] = max(next[c], tm)
		sec := int64(1000 + tm + rng.IntN(2))
		diff := sec - int64(tm)
		spell := ""
		if rng.IntN(4) == 0 {
			spell = ".0" // equal under the order, spelled differently
		}
		line := fmt.Sprintf("AT %s +%d.000000000 client-%03d +%d+1 %d%s", origins[rng.IntN(len(origins))], diff, c, rng.IntN(2), tm, spell)
		r, err := record.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		want := m.put(r)
		if batch {
			// ParseView: the store must copy what it keeps.
			buf := []byte(line)
			v, _ := record.ParseView(buf)
			recs, wants, bufs = append(recs, v), append(wants, want), append(bufs, buf)
			if len(recs) >= size {
				flush()
			}
		} else {
			st, got := s.PutView(r)
			if got != want {
				t.Fatalf("step %d: Put(%q) = %v, model says %v", step, line, got, want)
			}
			if got && st.Line != line {
				t.Fatalf("step %d: Put returned %q, want %q", step, st.Line, line)
			}
		}
		if rng.IntN(500) == 0 {
			flush()
			m.cursor = max(m.cursor, uint32(1000+next[rng.IntN(clients)]-rng.IntN(3)))
			s.Settle(int64(m.cursor) * 1e9)
		}
		if step%5000 == 4999 {
			flush()
			checkModel(t, s, m)
		}
	}
	flush()
	used, live := 0, 0
	for i := range s.shards {
		used += s.shards[i].slab.used
		live += s.shards[i].slab.live
	}
	if used > 2*live+digest.Groups*(64<<10) {
		t.Errorf("slabs hold %d bytes for %d live: never compacted", used, live)
	}
	checkModel(t, s, m)
}

func checkModel(t *testing.T, s *Store, m *model) {
	t.Helper()
	if s.Len() != len(m.cur) {
		t.Fatalf("Len = %d, model %d", s.Len(), len(m.cur))
	}
	var sums, settled [digest.Buckets]uint64
	for c, r := range m.cur {
		got, ok := s.Get(c)
		if !ok || got.Line != r.Line {
			t.Fatalf("Get(%s) = %q, %v; model %q", c, got.Line, ok, r.Line)
		}
		b := digest.Bucket(c)
		sums[b] ^= digest.Hash(r)
		settled[b] ^= m.settledHash(c)
	}
	for g := range digest.Groups {
		gotAll, gotSettled := s.BucketSums(g), s.SettledBucketSums(g)
		var groupAll, groupSettled uint64
		for i := range digest.GroupSize {
			b := g*digest.GroupSize + i
			if gotAll[i] != sums[b] || gotSettled[i] != settled[b] {
				t.Fatalf("bucket %d: sums %x settled %x; model %x settled %x", b, gotAll[i], gotSettled[i], sums[b], settled[b])
			}
			groupAll ^= sums[b]
			groupSettled ^= settled[b]
		}
		if s.GroupSums()[g] != groupAll || s.SettledGroupSums()[g] != groupSettled {
			t.Fatalf("group %d: sums differ from the model's", g)
		}
	}
}
