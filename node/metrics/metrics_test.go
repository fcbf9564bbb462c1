package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/resilient"
)

func newTest() *Metrics { return New(Config{Node: "A", Neighbors: []string{"B", "C"}}) }

// gather reads the registry as "name{k=v,...}" → value, labels in the
// registry's order; histograms as name_count and name_sum.
func gather(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, lp := range mt.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			labels := "{" + strings.Join(ls, ",") + "}"
			switch {
			case mt.Counter != nil:
				out[mf.GetName()+labels] = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				out[mf.GetName()+labels] = mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				out[mf.GetName()+"_count"+labels] = float64(mt.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"+labels] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// expect checks every key of want against the registry, and that no other
// series of the same names exist.
func expect(t *testing.T, m *Metrics, want map[string]float64) {
	t.Helper()
	got := gather(t, m)
	names := map[string]bool{}
	for k, v := range want {
		names[k[:strings.IndexByte(k, '{')]] = true
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if names[k[:strings.IndexByte(k, '{')]] {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected series %s", k)
			}
		}
	}
}

func TestMetrics_Command(t *testing.T) {
	m := newTest()
	m.Command(core.CommandIAMAT, core.OutcomeStored)
	m.Command(core.CommandIAMAT, core.OutcomeStored)
	m.Command(core.CommandWHATSAT, core.OutcomeUnknownClient)
	m.Command(core.CommandIAMAT, core.OutcomeAnswered) // cannot happen: not exported
	m.Command(core.NumCommands, core.OutcomeStored)    // out of range: ignored
	m.Connection(true)
	m.Connection(true)
	m.Connection(false)
	expect(t, m, map[string]float64{
		`herd_client_commands_total{command=iamat,node=A,outcome=invalid}`:          0,
		`herd_client_commands_total{command=iamat,node=A,outcome=stale}`:            0,
		`herd_client_commands_total{command=iamat,node=A,outcome=stored}`:           2,
		`herd_client_commands_total{command=invalid,node=A,outcome=invalid}`:        0,
		`herd_client_commands_total{command=whatsat,node=A,outcome=answered}`:       0,
		`herd_client_commands_total{command=whatsat,node=A,outcome=invalid}`:        0,
		`herd_client_commands_total{command=whatsat,node=A,outcome=unknown_client}`: 1,
		`herd_client_connections{node=A}`:                                           1,
		`herd_client_connections_opened_total{node=A}`:                              2,
	})
}

func TestMetrics_Flood(t *testing.T) {
	m := newTest()
	m.Published("B", 3)
	m.Published("C", 1)
	m.Relayed("C", 1)
	m.Received("B", true)
	m.Received("B", false)
	m.Received("Z", true) // not a neighbor: "other", label values stay bounded
	m.Refused("evil.sender", bus.RefusedNotNeighbor)
	m.Refused("B", bus.RefusedBadRecord)
	m.Refused("B", bus.NumRefusals) // out of range: ignored
	m.Dropped(4, bus.DropQueueFull)
	m.Dropped(1, bus.DropPublishFailed)
	m.Dropped(2, bus.DropDisconnected)
	m.Dropped(1, bus.NumDrops) // out of range: ignored
	m.Latency(3 * time.Millisecond)
	m.Repaired("B", 2)
	m.Synced("B", true, nil)
	m.Synced("B", false, nil)
	m.Synced("C", false, errors.New("timeout"))
	m.Synced("C", false, fmt.Errorf("sync records with C: %w: %w", antientropy.ErrInterrupted, errors.New("timeout")))
	expect(t, m, map[string]float64{
		`herd_flood_published_messages_total{node=A,to=B}`:                   1,
		`herd_flood_published_messages_total{node=A,to=C}`:                   1,
		`herd_flood_published_messages_total{node=A,to=other}`:               0,
		`herd_flood_published_records_total{node=A,to=B}`:                    3,
		`herd_flood_published_records_total{node=A,to=C}`:                    1,
		`herd_flood_published_records_total{node=A,to=other}`:                0,
		`herd_flood_relayed_records_total{node=A,to=B}`:                      0,
		`herd_flood_relayed_records_total{node=A,to=C}`:                      1,
		`herd_flood_relayed_records_total{node=A,to=other}`:                  0,
		`herd_flood_received_records_total{from=B,node=A,result=stored}`:     1,
		`herd_flood_received_records_total{from=B,node=A,result=stale}`:      1,
		`herd_flood_received_records_total{from=C,node=A,result=stored}`:     0,
		`herd_flood_received_records_total{from=C,node=A,result=stale}`:      0,
		`herd_flood_received_records_total{from=other,node=A,result=stored}`: 1,
		`herd_flood_received_records_total{from=other,node=A,result=stale}`:  0,
		`herd_flood_dropped_records_total{node=A,reason=queue_full}`:         4,
		`herd_flood_dropped_records_total{node=A,reason=publish_failed}`:     1,
		`herd_flood_dropped_records_total{node=A,reason=disconnected}`:       2,
		`herd_flood_latency_seconds_count{node=A}`:                           1,
		`herd_flood_latency_seconds_sum{node=A}`:                             0.003,
		`herd_antientropy_repaired_records_total{node=A}`:                    2,
		`herd_antientropy_exchanges_total{node=A,result=in_sync}`:            1,
		`herd_antientropy_exchanges_total{node=A,result=differed}`:           1,
		`herd_antientropy_exchanges_total{node=A,result=interrupted}`:        1,
		`herd_antientropy_exchanges_total{node=A,result=failed}`:             1,
	})
	// Refusals by sender (neighbors, then "other") and typed reason.
	want := map[string]float64{}
	for _, from := range []string{"B", "C", "other"} {
		for why := range bus.NumRefusals {
			want[`herd_flood_invalid_total{from=`+from+`,node=A,reason=`+why.String()+`}`] = 0
		}
	}
	want[`herd_flood_invalid_total{from=other,node=A,reason=not_neighbor}`] = 1
	want[`herd_flood_invalid_total{from=B,node=A,reason=bad_record}`] = 1
	expect(t, m, want)
	if got := m.Totals().Repaired; got != 2 {
		t.Errorf("Totals().Repaired = %d, want 2", got)
	}
}

type scripted struct {
	resp places.Response
	err  error
}

func (s scripted) Nearby(context.Context, places.Query) (places.Response, error) {
	return s.resp, s.err
}

func TestMetrics_Places(t *testing.T) {
	m := newTest()
	q := places.Query{Lat: 1, Lng: 1, RadiusM: 1000, Limit: 1}
	for _, p := range []places.Provider{
		scripted{resp: places.Response{Status: places.StatusOK}},
		scripted{resp: places.Response{}},                    // empty status, no results: ZERO_RESULTS
		scripted{resp: places.Response{Status: "SOMETHING"}}, // unknown: UNKNOWN_ERROR
		scripted{resp: places.Failure(places.StatusOverQueryLimit, "slow down")},
		scripted{err: errors.New("cancelled")},
	} {
		m.Places(p).Nearby(context.Background(), q)
	}
	m.ObserveUpstream(places.StatusOK, 20*time.Millisecond)
	m.ObserveUpstream("weird", time.Second)
	expect(t, m, map[string]float64{
		`herd_places_calls_total{node=A,status=OK}`:               1,
		`herd_places_calls_total{node=A,status=ZERO_RESULTS}`:     1,
		`herd_places_calls_total{node=A,status=UNKNOWN_ERROR}`:    1,
		`herd_places_calls_total{node=A,status=OVER_QUERY_LIMIT}`: 1,
		`herd_places_calls_total{node=A,status=ERROR}`:            1,
		`herd_places_calls_total{node=A,status=REQUEST_DENIED}`:   0,
		`herd_places_calls_total{node=A,status=INVALID_REQUEST}`:  0,
		// Only the statuses seen: an offline herd shows none.
		`herd_places_upstream_duration_seconds_count{node=A,status=OK}`:            1,
		`herd_places_upstream_duration_seconds_sum{node=A,status=OK}`:              0.02,
		`herd_places_upstream_duration_seconds_count{node=A,status=UNKNOWN_ERROR}`: 1,
		`herd_places_upstream_duration_seconds_sum{node=A,status=UNKNOWN_ERROR}`:   1,
	})
}

// The resilience layer's own counters are exported at scrape time.
func TestMetrics_SetPlacesStats(t *testing.T) {
	m := newTest()
	rc := resilient.DefaultConfig()
	rp, err := resilient.New(scripted{resp: places.Response{Status: places.StatusOK}}, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if _, ok := gather(t, m)[`herd_places_cache_hits_total{node=A}`]; ok {
		t.Errorf("cache metrics exported before a resilient provider was set")
	}
	m.SetPlacesStats(rp)
	q := places.Query{Lat: 1, Lng: 1, RadiusM: 1000, Limit: 1}
	for range 3 {
		if _, err := rp.Nearby(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, m, map[string]float64{
		`herd_places_cache_hits_total{node=A}`:        2,
		`herd_places_cache_misses_total{node=A}`:      1,
		`herd_places_upstream_searches_total{node=A}`: 1,
		`herd_places_retries_total{node=A}`:           0,
		`herd_places_collapsed_calls_total{node=A}`:   0,
		`herd_places_upstream_in_flight{node=A}`:      0,
		`herd_places_cache_entries{node=A}`:           1,
	})
}

func TestMetrics_Records(t *testing.T) {
	m := newTest()
	n := 0
	m.SetRecords(func() int { return n })
	n = 7
	expect(t, m, map[string]float64{`herd_records{node=A}`: 7})
}

// A hook on the hot path allocates nothing.
func TestMetrics_NoAllocs(t *testing.T) {
	m := newTest()
	allocs := testing.AllocsPerRun(1000, func() {
		m.Command(core.CommandIAMAT, core.OutcomeStored)
		m.Published("C", 2)
		m.Received("B", true)
		m.Latency(time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per command", allocs)
	}
}
