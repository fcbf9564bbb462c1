package record

import "testing"

// ParseView aliases its input; Clone detaches it; Parse is both.
func TestParseView_Clone(t *testing.T) {
	line := []byte("AT Goloman +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503")
	view, err := ParseView(line)
	if err != nil {
		t.Fatal(err)
	}
	owned := view.Clone()
	parsed, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	line[len("AT Goloman +0.263873386 ")] = 'p' // kiwi → piwi
	if view.Client() != "piwi" {
		t.Errorf("view's client = %q, want it to alias the buffer (piwi)", view.Client())
	}
	for name, r := range map[string]Record{"Clone": owned, "Parse": parsed} {
		if r.Client() != "kiwi" || r.Time() != "1621464827.959498503" || r.Origin() != "Goloman" {
			t.Errorf("%s: fields %q %q %q changed with the buffer", name, r.Origin(), r.Client(), r.Time())
		}
	}
	if _, err := ParseView([]byte("AT x")); err == nil {
		t.Error("ParseView accepted a malformed line")
	}
}
