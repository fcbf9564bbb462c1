package store

import (
	"testing"

	"github.com/herdhq/herd/bus/record"
)

// PutView keeps a copy: reusing the caller's buffer afterwards changes
// neither the stored record nor its key, and a stale view is refused.
func TestStore_PutView(t *testing.T) {
	s := New()
	buf := []byte("AT Goloman +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503")
	view, err := record.ParseView(buf)
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := s.PutView(view)
	if !ok || stored.Line != string(buf) {
		t.Fatalf("PutView = %q, %v; want the record stored", stored.Line, ok)
	}
	want := string(buf)
	copy(buf, "AT Goloman +0.263873386 pear +11.111111-111.111111 1111111111.111111111")
	got, ok := s.Get("kiwi")
	if !ok || got.Line != want {
		t.Errorf("after the buffer changed: Get(kiwi) = %q, %v; want %q", got.Line, ok, want)
	}
	if _, ok := s.Get("pear"); ok {
		t.Error("the buffer's new client appeared in the store: the key aliases the buffer")
	}
	old, err := record.ParseView([]byte("AT Goloman +0.263873386 kiwi +34.068930-118.445127 1621464826.0"))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.PutView(old); ok || !r.IsZero() {
		t.Errorf("PutView(older) = %q, %v; want refused", r.Line, ok)
	}
	newer, err := record.ParseView([]byte("AT Hands +0.000000001 kiwi +1.0+2.0 1621464828"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.PutView(newer); !ok {
		t.Error("PutView(newer) refused")
	}
	if got, _ := s.Get("kiwi"); got.Origin() != "Hands" {
		t.Errorf("Get(kiwi) = %q after a newer PutView", got.Line)
	}
}

// BenchmarkStore_PutViewStale is the flood's duplicate: a record that is
// not newer, compared without a copy.
func BenchmarkStore_PutViewStale(b *testing.B) {
	s := New()
	line := []byte("AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503")
	r, err := record.ParseView(line)
	if err != nil {
		b.Fatal(err)
	}
	s.PutView(r)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.PutView(r); ok {
			b.Fatal("an equal record was stored again")
		}
	}
}
