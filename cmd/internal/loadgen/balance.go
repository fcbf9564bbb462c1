package loadgen

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// FloodBalance compares, for every directed edge of the herd, the flood
// records the sender published to the receiver over the run
// (herd_flood_published_records_total{to}) with the records the receiver
// counted from that sender (herd_flood_received_records_total{from}),
// once the flood has settled. Equal counts on an edge mean nothing was
// lost between the two nodes' counters (in NATS); a record missing on a
// node with every edge equal was lost before the sender's publisher or
// after the receiver's counter.
type FloodBalance struct {
	Published float64 `json:"published"`
	Received  float64 `json:"received"`
	// Unequal are the edges whose counts differ, largest loss first.
	Unequal []EdgeBalance `json:"unequal,omitempty"`
	// Seconds is how long after the run the counts were read (they are
	// read again until they agree, for at most balanceWait).
	Seconds float64 `json:"seconds"`
	// Late is what the herd counted from the end of the load until then
	// (HerdStats covers the load only): records in flight when the load
	// ended are still relayed, and may still be dropped, repaired, or
	// lost with a route, while verification runs. Nil without a scrape
	// at the end of the load.
	Late *LateStats `json:"late,omitempty"`
}

// LateStats are the drop, repair and route counters from the end of the
// load to the balance's scrape.
type LateStats struct {
	Dropped     map[string]float64 `json:"dropped,omitempty"`
	Repaired    float64            `json:"antientropy_repaired"`
	RouteClosed map[string]float64 `json:"nats_route_closed,omitempty"`
}

// EdgeBalance is one directed edge's counts.
type EdgeBalance struct {
	From      string  `json:"from"`
	To        string  `json:"to"`
	Published float64 `json:"published"`
	Received  float64 `json:"received"`
}

// balanceWait bounds the wait for the flood in flight to be counted at
// its receivers.
const balanceWait = 5 * time.Second

// floodBalance scrapes urls until the flood's counts since before agree
// on every edge or balanceWait has passed; loadEnd, when set, is the
// scrape at the end of the load, for Late.
func floodBalance(ctx context.Context, urls []string, before metricsSnapshot, loadEnd *metricsSnapshot) (*FloodBalance, error) {
	start := time.Now()
	for {
		after, err := scrapeAll(ctx, urls)
		if err != nil {
			return nil, err
		}
		b := balance(before, after)
		b.Seconds = time.Since(start).Seconds()
		if loadEnd != nil {
			h := herdStats(*loadEnd, after, 0, 0)
			b.Late = &LateStats{Repaired: h.Repaired, RouteClosed: h.RouteClosed}
			for r, v := range h.Dropped {
				if v > 0 {
					if b.Late.Dropped == nil {
						b.Late.Dropped = map[string]float64{}
					}
					b.Late.Dropped[r] = v
				}
			}
		}
		if len(b.Unequal) == 0 || time.Since(start) > balanceWait || !sleepCtx(ctx, 200*time.Millisecond) {
			return b, nil
		}
	}
}

// balance is the flood balance between two scrapes.
func balance(before, after metricsSnapshot) *FloodBalance {
	type edge struct{ from, to string }
	counts := map[edge]*EdgeBalance{}
	get := func(from, to string) *EdgeBalance {
		e := counts[edge{from, to}]
		if e == nil {
			e = &EdgeBalance{From: from, To: to}
			counts[edge{from, to}] = e
		}
		return e
	}
	add := func(s metricsSnapshot, sign float64) {
		for k, v := range s.series {
			if _, after, ok := strings.Cut(k, " "); ok {
				k = after
			}
			name, labels, _ := strings.Cut(k, "{")
			switch name {
			case "herd_flood_published_records_total":
				get(label(labels, "node"), label(labels, "to")).Published += sign * v
			case "herd_flood_received_records_total":
				get(label(labels, "from"), label(labels, "node")).Received += sign * v
			}
		}
	}
	add(after, 1)
	add(before, -1)
	b := &FloodBalance{}
	for _, e := range counts {
		b.Published += e.Published
		b.Received += e.Received
		if e.Published != e.Received {
			b.Unequal = append(b.Unequal, *e)
		}
	}
	slices.SortFunc(b.Unequal, func(x, y EdgeBalance) int {
		return cmp.Or(cmp.Compare(y.Published-y.Received, x.Published-x.Received), cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
	})
	return b
}

// label is the value of label name in a Prometheus label list as written
// (`a="x",b="y"}`), or "".
func label(labels, name string) string {
	for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// byLabel sums the series named name by the value of their label key.
func (s metricsSnapshot) byLabel(name, key string) map[string]float64 {
	m := map[string]float64{}
	for k, v := range s.series {
		if _, after, ok := strings.Cut(k, " "); ok {
			k = after
		}
		n, labels, _ := strings.Cut(k, "{")
		if n == name {
			m[label(labels, key)] += v
		}
	}
	return m
}
