package server

import (
	"strings"
	"testing"
)

// Flood records travel only on the bus: an AT line from a client, however
// well formed, is answered with ? and neither stored nor flooded, so no
// client can set another client's location through a client port.
func TestServer_ATFromClientRefused(t *testing.T) {
	ts := startServer(t, nil)
	lines := []string{
		"AT Goloman +0.263873386 kiwi +34.068930-118.445127 1621464827.959498651",
		"AT Hands +0.000000001 kiwi +1+1 9999999999",
		"AT",
		"at Goloman +0.1 kiwi +1+1 1",
	}
	out := ts.roundTrip(t, []byte(strings.Join(lines, "\n")+"\nWHATSAT kiwi 10 1\n"))
	var want strings.Builder
	for _, l := range append(lines, "WHATSAT kiwi 10 1") {
		want.WriteString("? " + l + "\n")
	}
	if string(out) != want.String() {
		t.Fatalf("replies\n%q\nwant\n%q", out, want.String())
	}
	if r, ok := ts.store.Get("kiwi"); ok {
		t.Errorf("client's AT line stored: %q", r.Line)
	}
	if len(ts.stored) != 0 {
		t.Errorf("client's AT line flooded: %v", <-ts.stored)
	}
}

// A client name that is not valid UTF-8 makes the line invalid: "?" with
// the line's own bytes, nothing stored or flooded (protocol.md §1). A
// valid UTF-8 name is a name like any other.
func TestServer_ClientNameUTF8(t *testing.T) {
	ts := startServer(t, nil)
	out := ts.roundTrip(t, []byte("IAMAT caf\xe9 +1+1 1621464827\nWHATSAT caf\xe9 1 1\nIAMAT café +1+1 1621464827\n"))
	want := "? IAMAT caf\xe9 +1+1 1621464827\n? WHATSAT caf\xe9 1 1\nAT Goloman +1.223372037 café +1+1 1621464827\n"
	if string(out) != want {
		t.Fatalf("replies %q, want %q", out, want)
	}
	if ts.store.Len() != 1 || len(ts.stored) != 1 {
		t.Fatalf("%d records stored, %d flooded; want only café's", ts.store.Len(), len(ts.stored))
	}
}
