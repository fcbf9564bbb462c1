package digest

import (
	"testing"

	"github.com/herdhq/herd/bus/record"
)

// The bucket and hash functions are part of the bus protocol: nodes of
// different builds must agree on them, so their values are pinned here.
func TestHash_Pinned(t *testing.T) {
	r, err := record.Parse([]byte("AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Bucket(r.Client()), 2706; got != want {
		t.Errorf("Bucket = %d, want %d", got, want)
	}
	if got, want := Hash(r), uint64(0x31c5da3f3bba5029); got != want {
		t.Errorf("Hash = %#x, want %#x", got, want)
	}
	// Equal under the order, spelled differently: same hash.
	same, _ := record.Parse([]byte("AT Goloman +9.000000000 kiwi.cs.ucla.edu +34.068930-118.445127 01621464827.9594985030"))
	if Hash(same) != Hash(r) {
		t.Error("records equal under the order hash differently")
	}
	other, _ := record.Parse([]byte("AT Hands +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	if Hash(other) == Hash(r) {
		t.Error("records of different origins hash alike")
	}
}

func TestBucket_Range(t *testing.T) {
	for _, c := range []string{"", "a", "kiwi.cs.ucla.edu", string(make([]byte, 256))} {
		if b := Bucket(c); b < 0 || b >= Buckets || Group(b) >= Groups {
			t.Errorf("Bucket(%q) = %d", c, b)
		}
	}
}
