package googlefake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "AIzaFAKE"

// do sends one request and decodes the JSON answer.
func do(t *testing.T, method, url string, header map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: HTTP %d, body not JSON: %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

const nearbyBody = `{"maxResultCount":4,"locationRestriction":{"circle":{"center":{"latitude":34.06893,"longitude":-118.445127},"radius":500}}}`

func goodHeaders() map[string]string {
	return map[string]string{"X-Goog-Api-Key": key, "X-Goog-FieldMask": "places.id,places.location", "Content-Type": "application/json"}
}

func errorOf(t *testing.T, m map[string]any) (code float64, status, msg string) {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", m)
	}
	code, _ = e["code"].(float64)
	status, _ = e["status"].(string)
	msg, _ = e["message"].(string)
	return code, status, msg
}

func TestPlaces_errors(t *testing.T) {
	f := NewPlaces(Options{APIKey: key})
	defer f.Close()
	tests := []struct {
		name   string
		method string
		path   string
		edit   func(h map[string]string)
		body   string
		code   int
		status string
		msg    string
	}{
		{"no field mask", "POST", SearchNearbyPath, func(h map[string]string) { delete(h, "X-Goog-FieldMask") }, nearbyBody,
			400, "INVALID_ARGUMENT", "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters"},
		{"bad field mask", "POST", SearchNearbyPath, func(h map[string]string) { h["X-Goog-FieldMask"] = "places.nmae" }, nearbyBody,
			400, "INVALID_ARGUMENT", "Cannot find matching fields for path 'places.nmae'."},
		{"no key", "POST", SearchNearbyPath, func(h map[string]string) { delete(h, "X-Goog-Api-Key") }, nearbyBody,
			403, "PERMISSION_DENIED", "The request is missing a valid API key."},
		{"wrong key", "POST", SearchNearbyPath, func(h map[string]string) { h["X-Goog-Api-Key"] = "AIzaWRONG" }, nearbyBody,
			400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."},
		{"unknown field", "POST", SearchNearbyPath, func(map[string]string) {}, `{"maxResults":3}`,
			400, "INVALID_ARGUMENT", `Invalid JSON payload received. Unknown name "maxResults": Cannot find field.`},
		{"no location", "POST", SearchNearbyPath, func(map[string]string) {}, `{"maxResultCount":3}`,
			400, "INVALID_ARGUMENT", "Location restriction"},
		{"radius too big", "POST", SearchNearbyPath, func(map[string]string) {}, strings.Replace(nearbyBody, `"radius":500`, `"radius":50001`, 1),
			400, "INVALID_ARGUMENT", "Invalid radius"},
		{"too many results", "POST", SearchNearbyPath, func(map[string]string) {}, strings.Replace(nearbyBody, `"maxResultCount":4`, `"maxResultCount":21`, 1),
			400, "INVALID_ARGUMENT", "max_result_count"},
		{"GET", "GET", SearchNearbyPath, func(map[string]string) {}, "", 404, "NOT_FOUND", "Method not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := goodHeaders()
			tt.edit(h)
			code, m := do(t, tt.method, f.URL()+tt.path, h, tt.body)
			ecode, status, msg := errorOf(t, m)
			if code != tt.code || int(ecode) != tt.code || status != tt.status || !strings.Contains(msg, tt.msg) {
				t.Errorf("HTTP %d {code %v, status %s, message %q}; want %d %s containing %q", code, ecode, status, msg, tt.code, tt.status, tt.msg)
			}
		})
	}
}

func TestPlaces_search(t *testing.T) {
	f := NewPlaces(Options{APIKey: key, Seed: 7})
	defer f.Close()
	code, m := do(t, "POST", f.URL()+SearchNearbyPath, goodHeaders(), nearbyBody)
	if code != 200 {
		t.Fatalf("HTTP %d: %v", code, m)
	}
	ps, _ := m["places"].([]any)
	if len(ps) != 4 {
		t.Fatalf("%d places, want maxResultCount 4", len(ps))
	}
	prev := -1.0
	for _, p := range ps {
		pm := p.(map[string]any)
		if len(pm) != 2 || pm["id"] == nil || pm["location"] == nil {
			t.Errorf("place %v: want exactly the masked id and location", pm)
		}
		loc := pm["location"].(map[string]any)
		d := distanceM(34.06893, -118.445127, loc["latitude"].(float64), loc["longitude"].(float64))
		if d > 500 || d < prev {
			t.Errorf("place at %.1f m (previous %.1f): want within 500 m, nearest first", d, prev)
		}
		prev = d
	}
	_, again := do(t, "POST", f.URL()+SearchNearbyPath, goodHeaders(), nearbyBody)
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Errorf("same request, different places")
	}
	if c := f.Calls(); c != 2 {
		t.Errorf("Calls = %d, want 2", c)
	}
	last := f.LastRequest()
	if last.Method != "POST" || last.Path != SearchNearbyPath || string(last.Body) != nearbyBody || last.Header.Get("X-Goog-Api-Key") != key {
		t.Errorf("LastRequest = %+v", last)
	}
}

func TestPlaces_script(t *testing.T) {
	f := NewPlaces(Options{APIKey: key, Script: []Outcome{OverQueryLimit, Unavailable, ZeroResults}})
	defer f.Close()
	want := []int{429, 503, 200, 200}
	for i, w := range want {
		code, m := do(t, "POST", f.URL()+SearchNearbyPath, goodHeaders(), nearbyBody)
		if code != w {
			t.Errorf("call %d: HTTP %d, want %d", i, code, w)
		}
		if i == 2 && len(m) != 0 {
			t.Errorf("ZeroResults body = %v, want {}", m)
		}
		if i == 3 && m["places"] == nil {
			t.Errorf("after the script: %v, want places", m)
		}
	}
}

func TestLegacy_answers(t *testing.T) {
	f := NewLegacy(Options{APIKey: key})
	defer f.Close()
	base := f.URL() + NearbySearchPath + "?location=34.06893,-118.445127&radius=800"
	tests := []struct {
		name, url, status, msg string
	}{
		{"ok", base + "&key=" + key, "OK", ""},
		{"wrong key", base + "&key=AIzaWRONG", "REQUEST_DENIED", "The provided API key is invalid."},
		{"no key", base, "REQUEST_DENIED", "You must use an API key"},
		{"bad location", f.URL() + NearbySearchPath + "?location=north&radius=800&key=" + key, "INVALID_REQUEST", "Invalid 'location' parameter."},
		{"no radius", f.URL() + NearbySearchPath + "?location=1,2&key=" + key, "INVALID_REQUEST", "Invalid 'radius' parameter."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := do(t, "GET", tt.url, nil, "")
			msg, _ := m["error_message"].(string)
			if code != 200 || m["status"] != tt.status || !strings.Contains(msg, tt.msg) {
				t.Fatalf("HTTP %d status %v message %q; want 200 %s %q", code, m["status"], msg, tt.status, tt.msg)
			}
			res, _ := m["results"].([]any)
			if tt.status != "OK" {
				if res == nil || len(res) != 0 {
					t.Errorf("results = %v, want []", m["results"])
				}
				return
			}
			if len(res) != legacyPageSize || m["next_page_token"] == nil {
				t.Errorf("%d results, next_page_token %v; want a full page of %d", len(res), m["next_page_token"], legacyPageSize)
			}
			for _, r := range res {
				loc := r.(map[string]any)["geometry"].(map[string]any)["location"].(map[string]any)
				if d := distanceM(34.06893, -118.445127, loc["lat"].(float64), loc["lng"].(float64)); d > 800 {
					t.Errorf("result at %.0f m, radius 800", d)
				}
			}
		})
	}
}

func TestLegacy_holdAndLatency(t *testing.T) {
	f := NewLegacy(Options{APIKey: key, Latency: time.Millisecond})
	defer f.Close()
	f.Hold()
	done := make(chan int, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(f.URL() + NearbySearchPath + "?location=1,2&radius=10&key=" + key)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.Calls() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the held call never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("a held call was answered before Release")
	default:
	}
	f.Release()
	if code := <-done; code != 200 {
		t.Errorf("HTTP %d", code)
	}
	if q := f.LastRequest().Query; q.Get("location") != "1,2" || q.Get("radius") != "10" {
		t.Errorf("captured query %v", q)
	}
}
