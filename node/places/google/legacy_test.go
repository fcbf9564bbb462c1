package google

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/googlefake"
)

func newLegacyFake(t *testing.T, opts googlefake.Options) *googlefake.Legacy {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	f := googlefake.NewLegacy(opts)
	t.Cleanup(f.Close)
	return f
}

func newLegacyProvider(t *testing.T, baseURL, key string) *Legacy {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.APIKey = baseURL, key
	l, err := NewLegacy(cfg)
	if err != nil {
		t.Fatalf("NewLegacy: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestLegacy_Nearby_request(t *testing.T) {
	f := newLegacyFake(t, googlefake.Options{})
	l := newLegacyProvider(t, f.URL(), testKey)
	// 1e21 would print as 1e+21 with 'g' formatting; small values as 1e-05.
	q := places.Query{Lat: 0.00001, Lng: -118.445127, RadiusM: 25000, Limit: 3}
	if r := nearby(t, l, q); r.Status != places.StatusOK {
		t.Fatalf("status = %s (%s)", r.Status, r.ErrorMessage)
	}
	req := f.LastRequest()
	if req.Method != "GET" {
		t.Errorf("method = %s", req.Method)
	}
	if req.Path != "/maps/api/place/nearbysearch/json" {
		t.Errorf("path = %s", req.Path)
	}
	if len(req.Body) != 0 {
		t.Errorf("body = %q, want none", req.Body)
	}
	if strings.Contains(req.RawQuery, "+") {
		t.Errorf("raw query %q has a '+', which reads as a space", req.RawQuery)
	}
	want := map[string]string{"location": "0.00001,-118.445127", "radius": "25000", "key": testKey}
	if len(req.Query) != len(want) {
		t.Errorf("query = %v, want exactly %v", req.Query, want)
	}
	for k, v := range want {
		if got := req.Query[k]; len(got) != 1 || got[0] != v {
			t.Errorf("query %s = %q, want [%q]", k, got, v)
		}
	}
	if h := req.Header.Get("X-Goog-Api-Key"); h != "" {
		t.Errorf("legacy call sent X-Goog-Api-Key %q", h)
	}
}

func TestLegacy_Nearby_passThrough(t *testing.T) {
	f := newLegacyFake(t, googlefake.Options{})
	l := newLegacyProvider(t, f.URL(), testKey)
	r := nearby(t, l, ucla) // the fake answers 20; the limit is 5
	if r.Status != places.StatusOK || len(r.Results) != ucla.Limit {
		t.Fatalf("status %s, %d results; want OK, %d", r.Status, len(r.Results), ucla.Limit)
	}
	if r.HTMLAttributions == nil || len(r.HTMLAttributions) != 0 {
		t.Errorf("html_attributions = %#v", r.HTMLAttributions)
	}
	for i, raw := range r.Results {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		for _, k := range []string{"business_status", "geometry", "icon", "icon_background_color",
			"icon_mask_base_uri", "name", "opening_hours", "photos", "place_id", "plus_code",
			"reference", "scope", "types", "vicinity"} {
			if _, ok := m[k]; !ok {
				t.Errorf("result %d lost field %q: %s", i, k, raw)
			}
		}
	}
}

func TestLegacy_Nearby_status(t *testing.T) {
	tests := []struct {
		name    string
		outcome googlefake.Outcome
		key     string
		want    string
		msg     string
	}{
		{"OK", googlefake.OK, testKey, places.StatusOK, ""},
		{"ZERO_RESULTS", googlefake.ZeroResults, testKey, places.StatusZeroResults, ""},
		{"OVER_QUERY_LIMIT", googlefake.OverQueryLimit, testKey, places.StatusOverQueryLimit, "You have exceeded your rate-limit"},
		{"REQUEST_DENIED", googlefake.RequestDenied, testKey, places.StatusRequestDenied, "not authorized"},
		{"REQUEST_DENIED bad key", googlefake.OK, "AIzaWRONG", places.StatusRequestDenied, "The provided API key is invalid."},
		{"INVALID_REQUEST", googlefake.InvalidRequest, testKey, places.StatusInvalidRequest, "Nearby Search answered INVALID_REQUEST"},
		{"UNKNOWN_ERROR", googlefake.UnknownError, testKey, places.StatusUnknownError, "Nearby Search answered UNKNOWN_ERROR"},
		{"HTTP 503", googlefake.Unavailable, testKey, places.StatusUnknownError, "Nearby Search answered HTTP 503"},
		{"undecodable body", googlefake.Garbage, testKey, places.StatusUnknownError, "undecodable upstream response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLegacyFake(t, googlefake.Options{Script: []googlefake.Outcome{tt.outcome}})
			l := newLegacyProvider(t, f.URL(), tt.key)
			r := nearby(t, l, ucla)
			if tt.want == places.StatusOK || tt.want == places.StatusZeroResults {
				if r.Status != tt.want || r.ErrorMessage != "" {
					t.Fatalf("status = %s (%s), want %s", r.Status, r.ErrorMessage, tt.want)
				}
				return
			}
			checkFailure(t, r, tt.want)
			if !strings.Contains(r.ErrorMessage, tt.msg) {
				t.Errorf("error_message = %q, want it to contain %q", r.ErrorMessage, tt.msg)
			}
		})
	}
}
