package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/resilient"
)

// Places wraps p so that every search is counted by the status it
// answered with, whatever the provider (offline, Google, resilient).
func (m *Metrics) Places(p places.Provider) places.Provider {
	return &countingProvider{p: p, m: m}
}

type countingProvider struct {
	p places.Provider
	m *Metrics
}

var _ places.Provider = (*countingProvider)(nil)

func (c *countingProvider) Nearby(ctx context.Context, q places.Query) (places.Response, error) {
	resp, err := c.p.Nearby(ctx, q)
	status := places.StatusError
	if err == nil {
		status = places.ResponseStatus(resp) // what the client is told
	}
	c.m.placesCalls[places.StatusIndex(status)].Inc()
	return resp, err
}

// ObserveUpstream records one upstream attempt; it has the signature of
// resilient.Config.OnUpstream. Upstream attempts take milliseconds, so
// the label lookup here costs nothing that matters.
func (m *Metrics) ObserveUpstream(status string, d time.Duration) {
	m.upstream.WithLabelValues(places.Statuses[places.StatusIndex(status)]).Observe(d.Seconds())
}

// PlacesStats is the resilience layer of the Google providers, as metrics
// read it (node.Config.PlacesStats names it).
type PlacesStats interface {
	Stats() resilient.Stats
}

var _ PlacesStats = (*resilient.Provider)(nil)

type placesStatsFunc func() resilient.Stats

// SetPlacesStats exports the resilience layer's counters (cache hits and
// misses, retries, collapsed calls, upstream calls in flight) from p.
func (m *Metrics) SetPlacesStats(p PlacesStats) {
	fn := placesStatsFunc(p.Stats)
	m.placesStats.Store(&fn)
}

var (
	descCacheHits   = placesDesc("places_cache_hits_total", "WHATSAT searches answered from the Places cache.")
	descCacheMisses = placesDesc("places_cache_misses_total", "WHATSAT searches not found in the Places cache.")
	descRetries     = placesDesc("places_retries_total", "Upstream Places attempts after the first of a search.")
	descSearches    = placesDesc("places_upstream_searches_total", "Upstream Places searches started (one or more attempts each).")
	descCollapsed   = placesDesc("places_collapsed_calls_total", "Searches that waited on an identical search in flight instead of calling upstream.")
	descInFlight    = placesDesc("places_upstream_in_flight", "Upstream Places attempts running now.")
	descCached      = placesDesc("places_cache_entries", "Answers the Places cache holds now.")
)

func placesDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil)
}

// placesCollector reads resilient.Stats at scrape time, so the resilience
// layer's hot path pays nothing for being exported.
type placesCollector struct{ m *Metrics }

func (c placesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCacheHits, descCacheMisses, descRetries, descSearches, descCollapsed, descInFlight, descCached} {
		ch <- d
	}
}

func (c placesCollector) Collect(ch chan<- prometheus.Metric) {
	fn := c.m.placesStats.Load()
	if fn == nil {
		return // offline provider: no cache, no upstream
	}
	s := (*fn)()
	collapsed := float64(0)
	if s.Joined > s.Searches {
		collapsed = float64(s.Joined - s.Searches)
	}
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{descCacheHits, prometheus.CounterValue, float64(s.CacheHits)},
		{descCacheMisses, prometheus.CounterValue, float64(s.CacheMisses)},
		{descRetries, prometheus.CounterValue, float64(s.Retries)},
		{descSearches, prometheus.CounterValue, float64(s.Searches)},
		{descCollapsed, prometheus.CounterValue, collapsed},
		{descInFlight, prometheus.GaugeValue, float64(s.InFlight)},
		{descCached, prometheus.GaugeValue, float64(s.Cached)},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v)
	}
}
