// Package google holds the two Google Places providers: "google", Places API
// (New) searchNearby mapped to the classic result shape, and
// "google-legacy", the classic Nearby Search passed through.
//
// Neither retries, caches nor bounds concurrency: wrap them in
// node/places/resilient for that. Both report every upstream failure as a
// classic status with an error_message, and neither ever puts the API key
// in an error_message or error string.
package google

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herdhq/herd/node/places"
)

// Provider names as the herd file spells them.
const (
	NameNew    = "google"
	NameLegacy = "google-legacy"
)

// Default upstream base URLs.
const (
	DefaultNewBaseURL    = "https://places.googleapis.com"
	DefaultLegacyBaseURL = "https://maps.googleapis.com"
)

var (
	// ErrNoAPIKey: Config.APIKey is empty.
	ErrNoAPIKey = errors.New("no api key")
	// ErrBadBaseURL: Config.BaseURL is not an absolute http(s) URL.
	ErrBadBaseURL = errors.New("bad base url")
	// ErrBadLimit: Config.MaxResponseBytes is not positive.
	ErrBadLimit = errors.New("bad limit")
)

// Config configures either provider.
type Config struct {
	// BaseURL is scheme://host[:port][/prefix] of the upstream; empty means
	// Google's (DefaultNewBaseURL or DefaultLegacyBaseURL).
	BaseURL string
	// APIKey is the key itself (the caller reads it from the environment or
	// a file). It is sent upstream and never reported anywhere.
	APIKey string
	// HTTPClient makes the calls; nil means a client of this provider's own
	// with keep-alive pooling sized for concurrent searches. Deadlines come
	// from the ctx of each call, not from the client.
	HTTPClient *http.Client
	// MaxResponseBytes bounds how much of a response body is read.
	MaxResponseBytes int64
}

// DefaultConfig is a config needing only APIKey.
func DefaultConfig() Config {
	return Config{MaxResponseBytes: 4 << 20}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if c.APIKey == "" {
		return fmt.Errorf("APIKey: %w", ErrNoAPIKey)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			// The URL is not echoed: a misconfigured one might carry a key.
			return fmt.Errorf("BaseURL: want http(s)://host[:port][/prefix]: %w", ErrBadBaseURL)
		}
	}
	if c.MaxResponseBytes <= 0 {
		return fmt.Errorf("MaxResponseBytes %d: %w", c.MaxResponseBytes, ErrBadLimit)
	}
	return nil
}

// base is what both providers share: config, client and redaction.
type base struct {
	url    string // base URL without trailing slash
	key    string
	client *http.Client
	own    bool // client was made here, so Close may drop its connections
	max    int64
}

func newBase(cfg Config, defaultURL string) (base, error) {
	if err := cfg.Validate(); err != nil {
		return base{}, fmt.Errorf("google config: %w", err)
	}
	b := base{url: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, client: cfg.HTTPClient, max: cfg.MaxResponseBytes}
	if b.url == "" {
		b.url = defaultURL
	}
	if b.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make every
		// burst of concurrent searches open and tear down connections.
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 256
		t.IdleConnTimeout = 90 * time.Second
		b.client = &http.Client{Transport: t}
		b.own = true
	}
	return b, nil
}

// close drops idle keep-alive connections of a client made here.
func (b *base) close() {
	if b.own {
		b.client.CloseIdleConnections()
	}
}

// redact removes the key, raw and query-escaped, from s. Error strings are
// built without URLs in the first place; this is the second line.
func (b *base) redact(s string) string {
	for _, k := range []string{b.key, url.QueryEscape(b.key), url.PathEscape(b.key)} {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[REDACTED]")
		}
	}
	return s
}

// failure is a classic failure response with a redacted message.
func (b *base) failure(status, msg string) places.Response {
	return places.Failure(status, b.redact(msg))
}

// transportFailure describes an HTTP client error without its URL (a
// *url.Error prints the whole URL, and the legacy URL carries the key).
func (b *base) transportFailure(err error) places.Response {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return b.failure(places.StatusUnknownError, "upstream request timed out")
	case errors.Is(err, context.Canceled):
		return b.failure(places.StatusUnknownError, "upstream request cancelled")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return b.failure(places.StatusUnknownError, "upstream request failed: "+err.Error())
}

// checkQuery rejects what no Google API accepts, before any call.
func checkQuery(q places.Query) string {
	switch {
	case math.IsNaN(q.Lat) || q.Lat < -90 || q.Lat > 90:
		return "latitude must be within [-90, 90]"
	case math.IsNaN(q.Lng) || q.Lng < -180 || q.Lng > 180:
		return "longitude must be within [-180, 180]"
	case math.IsNaN(q.RadiusM) || q.RadiusM <= 0 || q.RadiusM > 50000:
		return "radius must be within (0, 50000] metres"
	case q.Limit < 1 || q.Limit > 20:
		return "limit must be within [1, 20]"
	}
	return ""
}
