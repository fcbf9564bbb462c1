package digest

import (
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

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

// Records whose fields do not fit Hash's stack buffer hash as the fields
// written one by one to a streaming digest, as short ones do.
func TestHash_longRecord(t *testing.T) {
	client := strings.Repeat("k", 256)
	loc := "+34." + strings.Repeat("0", 300) + "-118." + strings.Repeat("1", 300)
	r, err := record.Parse([]byte("AT Goloman +0.263873386 " + client + " " + loc + " 1621464827.959498503"))
	if err != nil {
		t.Fatal(err)
	}
	var d xxhash.Digest
	d.Reset()
	ip, frac := record.CanonicalTime(r.Time())
	for _, s := range []string{r.Client(), ip, frac, r.Origin(), r.Location()} {
		d.WriteString(s)
		d.Write([]byte{0})
	}
	if got, want := Hash(r), d.Sum64(); got != want {
		t.Errorf("Hash = %#x, want %#x", got, want)
	}
}

func BenchmarkHash(b *testing.B) {
	r, err := record.Parse([]byte("AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Hash(r)
	}
}
