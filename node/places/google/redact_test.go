package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/googlefake"
)

// leaks reports whether s holds the key in any form a URL or header gives.
func leaks(s string) bool {
	for _, k := range []string{testKey, url.QueryEscape(testKey), url.PathEscape(testKey), "AIzaTEST"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// echoServer answers every call with the request URL and headers in its
// error text, as a misbehaving proxy might: the provider must still redact.
func echoServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := fmt.Sprintf("%s key=%s header=%s", r.URL, r.URL.Query().Get("key"), r.Header.Get("X-Goog-Api-Key"))
		if r.URL.Path == SearchNearbyPath {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"code":400,"message":%q,"status":"INVALID_ARGUMENT"}}`, echo)
			return
		}
		fmt.Fprintf(w, `{"html_attributions":[],"results":[],"status":"REQUEST_DENIED","error_message":%q}`, echo)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func TestProviders_Nearby_neverLeakKey(t *testing.T) {
	type scenario struct {
		name    string
		baseURL func(t *testing.T) string
		timeout time.Duration
	}
	held := func(t *testing.T) string {
		f := newPlacesFake(t, googlefake.Options{})
		f.Hold()
		return f.URL()
	}
	heldLegacy := func(t *testing.T) string {
		f := newLegacyFake(t, googlefake.Options{})
		f.Hold()
		return f.URL()
	}
	scripted := func(o googlefake.Outcome) func(t *testing.T) string {
		return func(t *testing.T) string {
			return newPlacesFake(t, googlefake.Options{Script: []googlefake.Outcome{o}, APIKey: "other"}).URL()
		}
	}
	scriptedLegacy := func(o googlefake.Outcome) func(t *testing.T) string {
		return func(t *testing.T) string {
			return newLegacyFake(t, googlefake.Options{Script: []googlefake.Outcome{o}, APIKey: "other"}).URL()
		}
	}
	providers := []struct {
		name      string
		new       func(t *testing.T, base, key string) places.Provider
		scenarios []scenario
	}{
		{"google", func(t *testing.T, b, k string) places.Provider { return newPlacesProvider(t, b, k) }, []scenario{
			{"closed port", closedPortURL, 5 * time.Second},
			{"timeout", held, 50 * time.Millisecond},
			{"bad key", scripted(googlefake.OK), 5 * time.Second},
			{"503", scripted(googlefake.Unavailable), 5 * time.Second},
			{"garbage", scripted(googlefake.Garbage), 5 * time.Second},
			{"echoing upstream", echoServer, 5 * time.Second},
		}},
		{"google-legacy", func(t *testing.T, b, k string) places.Provider { return newLegacyProvider(t, b, k) }, []scenario{
			{"closed port", closedPortURL, 5 * time.Second},
			{"timeout", heldLegacy, 50 * time.Millisecond},
			{"bad key", scriptedLegacy(googlefake.OK), 5 * time.Second},
			{"503", scriptedLegacy(googlefake.Unavailable), 5 * time.Second},
			{"garbage", scriptedLegacy(googlefake.Garbage), 5 * time.Second},
			{"echoing upstream", echoServer, 5 * time.Second},
		}},
	}
	for _, pr := range providers {
		for _, sc := range pr.scenarios {
			t.Run(pr.name+"/"+sc.name, func(t *testing.T) {
				p := pr.new(t, sc.baseURL(t), testKey)
				ctx, cancel := context.WithTimeout(context.Background(), sc.timeout)
				defer cancel()
				r, err := p.Nearby(ctx, ucla)
				if err != nil {
					t.Fatalf("Nearby: %v", err)
				}
				if r.Status == places.StatusOK || r.ErrorMessage == "" {
					t.Fatalf("status %s (%q): want a failure with a message", r.Status, r.ErrorMessage)
				}
				if leaks(r.ErrorMessage) {
					t.Errorf("error_message leaks the key: %q", r.ErrorMessage)
				}
				if sc.name == "timeout" && r.ErrorMessage != "upstream request timed out" {
					t.Errorf("timeout error_message = %q", r.ErrorMessage)
				}
				// A done ctx is reported as an error; it must not leak either.
				_, err = p.Nearby(ctx, ucla)
				if sc.name == "timeout" && (err == nil || leaks(err.Error())) {
					t.Errorf("Nearby after deadline: err = %v", err)
				}
			})
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := DefaultConfig()
	ok.APIKey = testKey
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"valid", func(*Config) {}, nil},
		{"valid base", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/prefix/" }, nil},
		{"no key", func(c *Config) { c.APIKey = "" }, ErrNoAPIKey},
		{"relative base", func(c *Config) { c.BaseURL = "/v1" }, ErrBadBaseURL},
		{"ftp base", func(c *Config) { c.BaseURL = "ftp://example.com" }, ErrBadBaseURL},
		{"base with query", func(c *Config) { c.BaseURL = "https://example.com/?key=" + testKey }, ErrBadBaseURL},
		{"zero limit", func(c *Config) { c.MaxResponseBytes = 0 }, ErrBadLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if err != nil && leaks(err.Error()) {
				t.Errorf("error leaks the key: %v", err)
			}
			if _, nerr := NewPlaces(c); !errors.Is(nerr, tt.want) {
				t.Errorf("NewPlaces: %v, want %v", nerr, tt.want)
			}
			if _, nerr := NewLegacy(c); !errors.Is(nerr, tt.want) {
				t.Errorf("NewLegacy: %v, want %v", nerr, tt.want)
			}
		})
	}
}
