package store

import (
	"fmt"
	"testing"

	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/bus/record"
)

// The filter of recent hashes refuses a duplicate without the slot, and
// is only a shortcut: a duplicate whose entry another record took is
// refused by the slot, and a newer record landing on a taken entry is
// stored.
func TestStore_Recent(t *testing.T) {
	s := New()
	a := rec(t, "Hands", "a", "+1+1", "100")
	if !s.Put(a) {
		t.Fatal("first record not stored")
	}
	if !s.recent.has(digest.Hash(a)) {
		t.Fatal("a stored record's hash is not in the filter")
	}
	if s.Put(rec(t, "Hands", "a", "+1+1", "100.000")) {
		t.Fatal("a duplicate (spelled differently) stored again")
	}
	// A record of another client on a's entry.
	var b record.Record
	for i := 0; ; i++ {
		b = rec(t, "Hands", fmt.Sprintf("b%d", i), "+1+1", "100")
		if digest.Hash(b)%recentSize == digest.Hash(a)%recentSize {
			break
		}
	}
	if !s.Put(b) {
		t.Fatal("a record on a taken entry not stored")
	}
	if s.recent.has(digest.Hash(a)) {
		t.Fatal("a's entry not taken by b")
	}
	if s.Put(a) {
		t.Fatal("a duplicate whose entry was taken stored again")
	}
	if !s.Put(rec(t, "Hands", "a", "+1+1", "101")) {
		t.Fatal("a newer record not stored")
	}
	if got, _ := s.Get("a"); got.Time() != "101" {
		t.Fatalf("Get(a) = %q", got.Line)
	}
}
