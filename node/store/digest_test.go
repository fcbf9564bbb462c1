package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// sumsFromScratch recomputes every digest from the records, to check the
// sums Put keeps incrementally.
func sumsFromScratch(s *Store) (groups [digest.Groups]uint64, buckets [digest.Buckets]uint64) {
	s.Range(func(r record.Record) bool {
		b := digest.Bucket(r.Client())
		h := digest.Hash(r)
		buckets[b] ^= h
		groups[digest.Group(b)] ^= h
		return true
	})
	return groups, buckets
}

// Two stores that took the same records in different orders, with
// replacements along the way, hold equal digests, equal to the sums
// recomputed from their records; a store with one record more differs in
// that record's bucket and group only.
func TestStore_GroupSums(t *testing.T) {
	var recs []record.Record
	for i := range 2000 {
		recs = append(recs, rec(t, "Hands", fmt.Sprintf("c%d", i%700), "+1+1", fmt.Sprint(1000+i)))
	}
	a, b := New(), New()
	for _, r := range recs {
		a.Put(r)
	}
	for _, r := range slices.Backward(recs) {
		b.Put(r)
	}
	ga, gb := a.GroupSums(), b.GroupSums()
	if ga != gb {
		t.Fatal("same records, different group sums")
	}
	groups, buckets := sumsFromScratch(a)
	if ga != groups {
		t.Fatal("incremental group sums differ from recomputed ones")
	}
	for g := range digest.Groups {
		got := a.BucketSums(g)
		if !slices.Equal(got[:], buckets[g*digest.GroupSize:(g+1)*digest.GroupSize]) {
			t.Fatalf("group %d: incremental bucket sums differ from recomputed ones", g)
		}
	}
	if digest.Root(&ga) == 0 {
		t.Fatal("root of 700 records is zero")
	}

	extra := rec(t, "Welsh", "extra", "+2+2", "5")
	b.Put(extra)
	eb := digest.Bucket("extra")
	gb = b.GroupSums()
	for g := range digest.Groups {
		if (ga[g] != gb[g]) != (g == digest.Group(eb)) {
			t.Fatalf("group %d: differs=%v after one record in group %d", g, ga[g] != gb[g], digest.Group(eb))
		}
	}
	sa, sb := a.BucketSums(digest.Group(eb)), b.BucketSums(digest.Group(eb))
	for i := range sa {
		if (sa[i] != sb[i]) != (i == eb%digest.GroupSize) {
			t.Fatalf("bucket %d differs=%v", i, sa[i] != sb[i])
		}
	}
}

// Records equal under the order but spelled differently (another time
// difference, a trailing zero) hash alike, so they do not look out of sync.
func TestStore_EqualRecordsEqualDigests(t *testing.T) {
	a, b := New(), New()
	a.Put(rec(t, "Hands", "c", "+1+1", "100.5"))
	r, err := record.Parse([]byte("AT Hands +7.000000000 c +1+1 0100.50"))
	if err != nil {
		t.Fatal(err)
	}
	b.Put(r)
	if a.GroupSums() != b.GroupSums() {
		t.Fatal("equal records give different digests")
	}
}

func TestStore_AppendBucket(t *testing.T) {
	s := New()
	want := map[string]bool{}
	b := digest.Bucket("c0")
	for i := range 5000 {
		c := fmt.Sprintf("c%d", i)
		s.Put(rec(t, "Hands", c, "+1+1", "1"))
		if digest.Bucket(c) == b {
			want[c] = true
		}
	}
	got := s.AppendBucket(nil, b)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("bucket %d: %d records, want %d", b, len(got), len(want))
	}
	for _, r := range got {
		if !want[r.Client()] {
			t.Fatalf("bucket %d holds %s", b, r.Client())
		}
	}
	for _, b := range []int{-1, digest.Buckets} {
		if got := s.AppendBucket(nil, b); len(got) != 0 {
			t.Fatalf("bucket %d: %d records", b, len(got))
		}
	}
	for _, g := range []int{-1, digest.Groups} {
		if s.BucketSums(g) != [digest.GroupSize]uint64{} {
			t.Fatalf("group %d: non-zero sums", g)
		}
	}
}

// at is a record of client c from origin Hands received at origin time
// sec seconds (Unix), with client time t.
func at(t testing.TB, c string, sec int64, tm int) record.Record {
	t.Helper()
	// origin time = client time + diff: client time tm, diff sec − tm.
	r, err := record.Parse(fmt.Appendf(nil, "AT Hands +%d.000000000 %s +1+1 %d", sec-int64(tm), c, tm))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The settled digests count a record once the cursor passed its origin
// time, and until then the client's previously settled record: two stores
// with the same settled history agree while a newer record is in flight
// to one of them, and differ once it settled at one only.
func TestStore_Settled(t *testing.T) {
	a, b := New(), New()
	for i := range 300 {
		c := fmt.Sprintf("c%d", i)
		a.Put(at(t, c, 100, 1))
		b.Put(at(t, c, 100, 1))
	}
	if got := a.SettledGroupSums(); got != ([digest.Groups]uint64{}) {
		t.Fatal("records settled before any Settle")
	}
	a.Settle(101e9)
	b.Settle(101e9)
	if a.SettledGroupSums() != b.SettledGroupSums() || a.SettledGroupSums() == ([digest.Groups]uint64{}) {
		t.Fatal("same records settled at the same cursor: settled sums differ or are empty")
	}
	if a.SettledGroupSums() != a.GroupSums() {
		t.Fatal("every record settled, yet settled sums differ from the sums of all records")
	}
	// A newer record of c7 reaches a only, not settled yet: settled sums
	// still agree, the sums of all records do not.
	a.Put(at(t, "c7", 200, 2))
	if a.SettledGroupSums() != b.SettledGroupSums() {
		t.Fatal("a record in flight changed the settled sums")
	}
	if a.GroupSums() == b.GroupSums() {
		t.Fatal("a record more, and equal sums of all records")
	}
	// Once the cursor passes it, it counts at a (and b, lacking it, differs).
	a.Settle(201e9)
	b.Settle(201e9)
	ga, gb := a.SettledGroupSums(), b.SettledGroupSums()
	g := digest.Group(digest.Bucket("c7"))
	for i := range ga {
		if (ga[i] != gb[i]) != (i == g) {
			t.Fatalf("group %d: settled sums differ=%v, want only group %d to differ", i, ga[i] != gb[i], g)
		}
	}
	got := a.AppendSettled(nil, digest.Bucket("c7"), 201e9)
	if !slices.ContainsFunc(got, func(r record.Record) bool { return r.Client() == "c7" && r.Time() == "2" }) {
		t.Fatal("AppendSettled lacks the settled record")
	}
	if got := a.AppendSettled(nil, digest.Bucket("c7"), 150e9); slices.ContainsFunc(got, func(r record.Record) bool { return r.Client() == "c7" }) {
		t.Fatal("AppendSettled holds a record of an origin time after the cutoff")
	}
	// A record stored already settled (a repair) counts at once.
	b.Put(at(t, "c7", 200, 2))
	if a.SettledGroupSums() != b.SettledGroupSums() {
		t.Fatal("a settled record stored by repair did not count at once")
	}
	// Whatever moments the cursors moved at, a record in flight leaves the
	// settled sums equal: x's newer record reaches b only, after a settled
	// x's previous record long ago and b never looked.
	a.Put(at(t, "x", 300, 1))
	b.Put(at(t, "x", 300, 1))
	a.Settle(301e9)
	a.Settle(400e9)
	b.Put(at(t, "x", 450, 2))
	b.Settle(400e9)
	if a.SettledGroupSums() != b.SettledGroupSums() {
		t.Fatal("a record in flight to one store made the settled sums differ")
	}
	// The cursor never moves back.
	b.Settle(5e9)
	if b.SettleCursor() != 400e9 {
		t.Fatalf("cursor %d after Settle into the past", b.SettleCursor())
	}
	// Equal to sums recomputed from scratch once everything settled.
	_, buckets := sumsFromScratch(a)
	for g := range digest.Groups {
		got := a.SettledBucketSums(g)
		if !slices.Equal(got[:], buckets[g*digest.GroupSize:(g+1)*digest.GroupSize]) {
			t.Fatalf("group %d: settled bucket sums differ from recomputed ones", g)
		}
	}
}

// Records replaced many times leave garbage in the slabs that compaction
// reclaims; records handed out earlier stay intact, and every client keeps
// its newest record.
func TestStore_Compaction(t *testing.T) {
	s := New()
	const clients, rounds = 5000, 25
	var early []record.Record
	written := 0
	for round := range rounds {
		for i := range clients {
			r := at(t, fmt.Sprintf("client-%04d", i), int64(1000+round), round+1)
			st, ok := s.PutView(r)
			if !ok {
				t.Fatalf("round %d client %d not stored", round, i)
			}
			written += len(r.Line)
			if round == 0 && i < 10 {
				early = append(early, st)
			}
		}
	}
	var live, used int
	for i := range s.shards {
		live += s.shards[i].slab.live
		used += s.shards[i].slab.used
	}
	if used > written/2 || used > 2*live+digest.Groups*(64<<10) {
		t.Errorf("slabs hold %d bytes for %d live after %d written: garbage not reclaimed", used, live, written)
	}
	for i, r := range early {
		want := fmt.Sprintf("AT Hands +999.000000000 client-%04d +1+1 1", i)
		if r.Line != want || r.Client() != fmt.Sprintf("client-%04d", i) {
			t.Fatalf("record handed out before compaction changed: %q", r.Line)
		}
	}
	for i := range clients {
		got, ok := s.Get(fmt.Sprintf("client-%04d", i))
		if !ok || got.Time() != fmt.Sprint(rounds) {
			t.Fatalf("client %d: %q, %v", i, got.Line, ok)
		}
	}
	groups, _ := sumsFromScratch(s)
	if groups != s.GroupSums() {
		t.Fatal("sums differ from recomputed ones after compaction")
	}
}
