package resilient

import (
	"sync/atomic"
	"time"

	"github.com/herdhq/herd/node/places"
)

// StatusError labels calls that ended with an error instead of a response
// (the caller's ctx ended, or the wrapper was closed).
const StatusError = places.StatusError

// Stats is a snapshot of the wrapper's counters since New. Counters only
// grow, so a metrics exporter can publish them as Prometheus counters.
type Stats struct {
	// Calls counts answers given to callers by status, cached ones
	// included; StatusError counts calls that returned an error.
	Calls map[string]uint64
	// Upstream counts upstream attempts by status.
	Upstream map[string]uint64
	// CacheHits and CacheMisses count cache lookups by callers (none while
	// the cache is disabled).
	CacheHits, CacheMisses uint64
	// Retries counts attempts after the first.
	Retries uint64
	// Searches counts upstream searches started (each of one or more
	// attempts); Joined counts callers that waited on one. Joined minus
	// Searches is how many calls collapsing saved.
	Searches, Joined uint64
	// UpstreamLatency is the total time of all upstream attempts, and
	// UpstreamMaxLatency the longest one.
	UpstreamLatency, UpstreamMaxLatency time.Duration
	// InFlight is upstream attempts running now (at most MaxConcurrent).
	InFlight int64
	// Waiting is callers now waiting on an upstream search.
	Waiting int64
	// Cached is how many answers the cache holds now.
	Cached int
}

// counters are the live values behind Stats. Calls and upstream are
// indexed by places.StatusIndex, the one status table metrics use too.
type counters struct {
	calls, upstream         [places.NumStatuses]atomic.Uint64
	hits, misses, retries   atomic.Uint64
	searches, joined        atomic.Uint64
	latencyNS, maxLatencyNS atomic.Int64
	inFlight, waiting       atomic.Int64
}

func (c *counters) observe(latency time.Duration) {
	c.latencyNS.Add(int64(latency))
	for {
		old := c.maxLatencyNS.Load()
		if int64(latency) <= old || c.maxLatencyNS.CompareAndSwap(old, int64(latency)) {
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Calls:              make(map[string]uint64, places.NumStatuses),
		Upstream:           make(map[string]uint64, places.NumStatuses),
		CacheHits:          c.hits.Load(),
		CacheMisses:        c.misses.Load(),
		Retries:            c.retries.Load(),
		Searches:           c.searches.Load(),
		Joined:             c.joined.Load(),
		UpstreamLatency:    time.Duration(c.latencyNS.Load()),
		UpstreamMaxLatency: time.Duration(c.maxLatencyNS.Load()),
		InFlight:           c.inFlight.Load(),
		Waiting:            c.waiting.Load(),
	}
	for i, n := range places.Statuses {
		if v := c.calls[i].Load(); v > 0 {
			s.Calls[n] = v
		}
		if v := c.upstream[i].Load(); v > 0 {
			s.Upstream[n] = v
		}
	}
	return s
}
