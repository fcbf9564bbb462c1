package herdrun

import (
	"fmt"
	"sync"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/metrics"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/google"
	"github.com/herdhq/herd/node/places/offline"
	"github.com/herdhq/herd/node/places/resilient"
)

// Providers makes the herd file's Places provider for each node of one
// process. The offline data is decoded once and shared; a Google provider
// is made per node (its concurrency bound and cache are per node) and
// wrapped in the resilience layer. The key is read from the environment or
// the key file and never appears in errors.
type Providers struct {
	pc  herdfile.PlacesConfig
	key string
	ds  *offline.Dataset

	mu        sync.Mutex // guards closers and resilient
	closers   []func()
	resilient []*resilient.Provider
}

// NewProviders reads what every node's provider needs: the offline data or
// the API key.
func NewProviders(hf herdfile.Config, getenv func(string) string) (*Providers, error) {
	ps := &Providers{pc: hf.Places}
	switch hf.Places.Provider {
	case herdfile.ProviderOffline:
		ds, err := offline.LoadEmbedded()
		if err != nil {
			return nil, fmt.Errorf("load offline places: %w", err)
		}
		ps.ds = ds
	case herdfile.ProviderGoogle, herdfile.ProviderGoogleLegacy:
		key, err := hf.PlacesKey(getenv)
		if err != nil {
			return nil, err
		}
		ps.key = key
	default:
		return nil, fmt.Errorf("places.provider: unknown provider %q", hf.Places.Provider)
	}
	return ps, nil
}

// NewObserved makes one node's provider; a Google provider calls
// onUpstream (when set) after every upstream attempt, for metrics, and is
// returned as stats too: its resilience layer, whose counters metrics
// export (nil for the offline provider, which has none).
func (ps *Providers) NewObserved(onUpstream func(status string, latency time.Duration)) (p places.Provider, stats metrics.PlacesStats, err error) {
	if ps.ds != nil {
		return offline.NewWithDataset(ps.ds), nil, nil
	}
	gc := google.DefaultConfig()
	gc.BaseURL, gc.APIKey = ps.pc.BaseURL, ps.key
	var up places.Provider
	var closeUp func()
	if ps.pc.Provider == herdfile.ProviderGoogle {
		p, err := google.NewPlaces(gc)
		if err != nil {
			return nil, nil, fmt.Errorf("places.provider google: %w", err)
		}
		up, closeUp = p, p.Close
	} else {
		p, err := google.NewLegacy(gc)
		if err != nil {
			return nil, nil, fmt.Errorf("places.provider google-legacy: %w", err)
		}
		up, closeUp = p, p.Close
	}
	rc := resilient.DefaultConfig()
	rc.Timeout = ps.pc.Timeout
	rc.MaxConcurrent = ps.pc.MaxConcurrent
	rc.CacheTTL, rc.CacheSize = ps.pc.CacheTTL, ps.pc.CacheSize
	rc.OnUpstream = onUpstream
	r, err := resilient.New(up, rc)
	if err != nil {
		closeUp()
		return nil, nil, fmt.Errorf("places: %w", err)
	}
	ps.mu.Lock()
	ps.closers = append(ps.closers, func() { r.Close(); closeUp() })
	ps.resilient = append(ps.resilient, r)
	ps.mu.Unlock()
	return r, r, nil
}

// Stats returns the resilience layer's counters of each node's provider,
// in the order the providers were made (none for the offline provider,
// which needs no such layer).
func (ps *Providers) Stats() []resilient.Stats {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]resilient.Stats, len(ps.resilient))
	for i, r := range ps.resilient {
		out[i] = r.Stats()
	}
	return out
}

// Close releases every provider made. Call it after the nodes are closed.
func (ps *Providers) Close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.closers {
		c()
	}
	ps.closers, ps.resilient = nil, nil
}
