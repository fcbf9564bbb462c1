package herdrun

import (
	"bufio"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/places/googlefake"
)

// A key Google rejects reaches the client as REQUEST_DENIED with either
// Google provider, as the classic API says it: Places API (New) answers a
// wrong key with HTTP 400 INVALID_ARGUMENT (reason API_KEY_INVALID) and a
// disabled API with 403 PERMISSION_DENIED; the legacy API with status
// REQUEST_DENIED. The client did nothing wrong, so never INVALID_REQUEST.
func TestStart_GoogleKeyRejected(t *testing.T) {
	const realKey = "AIzaREAL-key-the-fake-accepts"
	for _, tt := range []struct {
		name, provider string
		fake           func(googlefake.Options) upstream
		script         []googlefake.Outcome
	}{
		{"new API, wrong key (400 API_KEY_INVALID)", herdfile.ProviderGoogle, newPlaces, nil},
		{"new API, API disabled (403 PERMISSION_DENIED)", herdfile.ProviderGoogle, newPlaces, []googlefake.Outcome{googlefake.RequestDenied}},
		{"legacy API, wrong key", herdfile.ProviderGoogleLegacy, newLegacy, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey // not the fake's key
			if tt.script != nil {
				key = realKey
			}
			fake := tt.fake(googlefake.Options{APIKey: realKey, Script: tt.script})
			defer fake.Close()
			hf := soloHerd(t, fake.URL(), "")
			hf.Places.Provider = tt.provider
			h, _ := startSoloKey(t, hf, key)
			c := dial(t, h.Nodes[0].ClientAddr())
			defer c.Close()
			at, reply := iamatWhatsat(t, c, bufio.NewReader(c))
			if !strings.HasPrefix(reply, at) || !strings.Contains(reply, `"status": "REQUEST_DENIED"`) || !strings.Contains(reply, `"error_message"`) {
				t.Fatalf("WHATSAT reply %q, want REQUEST_DENIED with an error message", reply)
			}
			if strings.Contains(reply, key) || fake.Calls() == 0 {
				t.Fatalf("reply shows the key, or the fake was never called (%d calls)", fake.Calls())
			}
		})
	}
}

// upstream is either fake.
type upstream interface {
	URL() string
	Calls() int
	Close()
}

func newPlaces(o googlefake.Options) upstream { return googlefake.NewPlaces(o) }
func newLegacy(o googlefake.Options) upstream { return googlefake.NewLegacy(o) }
