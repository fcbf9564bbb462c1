package google

import (
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/googlefake"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey has characters a query string must escape, so that leaks of the
// escaped form are caught too.
const testKey = "AIzaTEST+key/with=odd&chars"

var ucla = places.Query{Lat: 34.068930, Lng: -118.445127, RadiusM: 10000, Limit: 5}

func newPlacesFake(t *testing.T, opts googlefake.Options) *googlefake.Places {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	f := googlefake.NewPlaces(opts)
	t.Cleanup(f.Close)
	return f
}

func newPlacesProvider(t *testing.T, baseURL, key string) *Places {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.APIKey = baseURL, key
	p, err := NewPlaces(cfg)
	if err != nil {
		t.Fatalf("NewPlaces: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func nearby(t *testing.T, p places.Provider, q places.Query) places.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := p.Nearby(ctx, q)
	if err != nil {
		t.Fatalf("Nearby: %v", err)
	}
	return r
}

// checkFailure asserts a failure response: status, a message, no results.
func checkFailure(t *testing.T, r places.Response, status string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %q (%s), want %q", r.Status, r.ErrorMessage, status)
	}
	if r.ErrorMessage == "" {
		t.Errorf("status %s without error_message", status)
	}
	if len(r.Results) != 0 || r.Results == nil || r.HTMLAttributions == nil {
		t.Errorf("results = %v, attributions = %v; want both empty, not null", r.Results, r.HTMLAttributions)
	}
}

func TestPlaces_Nearby_request(t *testing.T) {
	f := newPlacesFake(t, googlefake.Options{})
	p := newPlacesProvider(t, f.URL(), testKey)
	q := places.Query{Lat: 34.06893, Lng: -118.445127, RadiusM: 1234.5, Limit: 7}
	if r := nearby(t, p, q); r.Status != places.StatusOK {
		t.Fatalf("status = %s (%s)", r.Status, r.ErrorMessage)
	}
	req := f.LastRequest()
	if req.Method != "POST" {
		t.Errorf("method = %s", req.Method)
	}
	if req.Path != "/v1/places:searchNearby" {
		t.Errorf("path = %s", req.Path)
	}
	if req.RawQuery != "" {
		t.Errorf("query = %q, want none (the key travels in a header)", req.RawQuery)
	}
	for h, want := range map[string]string{
		"X-Goog-Api-Key":   testKey,
		"X-Goog-FieldMask": FieldMask,
		"Content-Type":     "application/json",
	} {
		if got := req.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want [%q]", h, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	want := map[string]any{
		"maxResultCount": 7.0,
		"locationRestriction": map[string]any{"circle": map[string]any{
			"center": map[string]any{"latitude": 34.06893, "longitude": -118.445127},
			"radius": 1234.5,
		}},
	}
	if g, w := mustJSON(t, body), mustJSON(t, want); g != w {
		t.Errorf("body = %s, want %s", g, w)
	}
}

func TestPlaces_Nearby_mapping(t *testing.T) {
	world := []googlefake.Place{
		{ID: "ChIJnear", Name: "Near Cafe", Lat: 34.0690, Lng: -118.4451, Address: "1 Near St, Westwood",
			Types: []string{"cafe", "food", "point_of_interest", "establishment"}, Rating: 4.5,
			UserRatingCount: 321, BusinessStatus: "OPERATIONAL", PriceLevel: 1},
		{ID: "ChIJfar", Name: "Far Park", Lat: 34.0750, Lng: -118.4400, Address: "2 Far Rd",
			Types: []string{"park"}, BusinessStatus: "CLOSED_TEMPORARILY", PriceLevel: -1},
		{ID: "ChIJout", Name: "Out Of Range", Lat: 35, Lng: -118, PriceLevel: -1},
	}
	f := newPlacesFake(t, googlefake.Options{Places: world})
	p := newPlacesProvider(t, f.URL(), testKey)
	r := nearby(t, p, places.Query{Lat: 34.068930, Lng: -118.445127, RadiusM: 2000, Limit: 20})
	if r.Status != places.StatusOK || r.ErrorMessage != "" {
		t.Fatalf("status = %s (%s)", r.Status, r.ErrorMessage)
	}
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "places_mapping.json", append(got, '\n'))
}

func TestPlaces_Nearby_limit(t *testing.T) {
	f := newPlacesFake(t, googlefake.Options{})
	p := newPlacesProvider(t, f.URL(), testKey)
	for _, limit := range []int{1, 5, 20} {
		q := ucla
		q.Limit = limit
		r := nearby(t, p, q)
		if r.Status != places.StatusOK || len(r.Results) != limit {
			t.Errorf("limit %d: status %s, %d results", limit, r.Status, len(r.Results))
		}
	}
}

func TestPlaces_Nearby_status(t *testing.T) {
	tests := []struct {
		name    string
		outcome googlefake.Outcome
		key     string
		want    string
		msg     string // a substring of error_message
	}{
		{"ok", googlefake.OK, testKey, places.StatusOK, ""},
		{"empty object", googlefake.ZeroResults, testKey, places.StatusZeroResults, ""},
		{"400 INVALID_ARGUMENT", googlefake.InvalidRequest, testKey, places.StatusInvalidRequest, "HTTP 400 INVALID_ARGUMENT: Request contains an invalid argument."},
		{"403 PERMISSION_DENIED", googlefake.RequestDenied, testKey, places.StatusRequestDenied, "HTTP 403 PERMISSION_DENIED: Places API (New) has not been used"},
		{"400 API_KEY_INVALID", googlefake.OK, "AIzaWRONG", places.StatusRequestDenied, "API key not valid."},
		{"403 missing key", googlefake.OK, "", places.StatusRequestDenied, "missing a valid API key"},
		{"429 RESOURCE_EXHAUSTED", googlefake.OverQueryLimit, testKey, places.StatusOverQueryLimit, "HTTP 429 RESOURCE_EXHAUSTED: Quota exceeded"},
		{"500 INTERNAL", googlefake.UnknownError, testKey, places.StatusUnknownError, "HTTP 500 INTERNAL"},
		{"503 UNAVAILABLE", googlefake.Unavailable, testKey, places.StatusUnknownError, "HTTP 503 UNAVAILABLE"},
		{"undecodable body", googlefake.Garbage, testKey, places.StatusUnknownError, "undecodable upstream response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPlacesFake(t, googlefake.Options{Script: []googlefake.Outcome{tt.outcome}})
			// An empty key is refused by Validate, so send it through a
			// provider whose key is then blanked: the fake must see none.
			p := newPlacesProvider(t, f.URL(), "x")
			p.key = tt.key
			r := nearby(t, p, ucla)
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

func TestPlaces_Nearby_invalidQuery(t *testing.T) {
	f := newPlacesFake(t, googlefake.Options{})
	p := newPlacesProvider(t, f.URL(), testKey)
	for _, q := range []places.Query{
		{Lat: 91, Lng: 0, RadiusM: 10, Limit: 1},
		{Lat: 0, Lng: -181, RadiusM: 10, Limit: 1},
		{Lat: 0, Lng: 0, RadiusM: 0, Limit: 1},
		{Lat: 0, Lng: 0, RadiusM: 50001, Limit: 1},
		{Lat: 0, Lng: 0, RadiusM: 10, Limit: 0},
		{Lat: 0, Lng: 0, RadiusM: 10, Limit: 21},
	} {
		checkFailure(t, nearby(t, p, q), places.StatusInvalidRequest)
	}
	if n := f.Calls(); n != 0 {
		t.Errorf("upstream calls = %d, want 0 for invalid queries", n)
	}
}

func TestPlaces_Nearby_cancelled(t *testing.T) {
	p := newPlacesProvider(t, "http://127.0.0.1:1", testKey)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Nearby(ctx, ucla); err == nil {
		t.Fatal("Nearby with a done ctx: want an error")
	}
}

// closedPortURL is a loopback URL nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s mismatch:\n got: %s\nwant: %s", path, got, want)
	}
}
