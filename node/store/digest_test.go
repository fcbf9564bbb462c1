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
