package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HerdStats is what the herd's own /metrics say about a run: the CPU,
// garbage collection and memory of the herd's processes, and the flood's
// and anti-entropy's counters, summed over every node scraped. Process
// metrics are labelled by pid (several nodes may share a process, as
// under `herd up`) and counted once per process.
type HerdStats struct {
	Nodes     int `json:"nodes"`     // /metrics endpoints scraped
	Processes int `json:"processes"` // distinct processes among them

	CPUSeconds float64 `json:"cpu_seconds"` // process CPU over the load
	Cores      float64 `json:"cores"`       // CPUSeconds per second of load
	// CPUPerIAMAT is CPUSeconds over the IAMATs sent, in microseconds.
	CPUPerIAMAT float64 `json:"cpu_per_iamat_us,omitempty"`
	// GCShare is the runtime's estimate of CPU spent in garbage
	// collection, as a fraction of CPUSeconds.
	GCShare  float64 `json:"gc_share"`
	RSSBytes float64 `json:"rss_bytes"` // after the load, all processes
	Records  float64 `json:"records"`   // held after the load, all nodes
	// RSSPerRecord is RSSBytes over Records.
	RSSPerRecord float64 `json:"rss_per_record,omitempty"`

	FloodMessages float64            `json:"flood_messages"` // published over the load
	FloodRecords  float64            `json:"flood_records"`
	Dropped       map[string]float64 `json:"dropped"` // by reason, over the load
	Refused       float64            `json:"refused"` // flood and sync lines or messages refused
	Exchanges     map[string]float64 `json:"antientropy_exchanges"`
	Repaired      float64            `json:"antientropy_repaired"`
	// RouteClosed counts the NATS route connections the herd's servers
	// closed over the load, by reason (herd_nats_route_closed_total): a
	// route closed while the herd runs lost the flood messages queued on
	// it.
	RouteClosed map[string]float64 `json:"nats_route_closed,omitempty"`
}

// metricsSnapshot is one scrape of every node: value by series name and
// labels as written.
type metricsSnapshot struct {
	at     time.Time
	series map[string]float64 // "name{labels}" → value
}

// scrapeAll reads every URL's /metrics.
func scrapeAll(ctx context.Context, urls []string) (metricsSnapshot, error) {
	snap := metricsSnapshot{at: time.Now(), series: map[string]float64{}}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/metrics", nil)
		if err != nil {
			return snap, fmt.Errorf("scrape %s: %w", u, err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return snap, fmt.Errorf("scrape %s: %w", u, err)
		}
		err = parseMetrics(resp.Body, u, snap.series)
		resp.Body.Close()
		if err != nil {
			return snap, fmt.Errorf("scrape %s: %w", u, err)
		}
	}
	return snap, nil
}

// parseMetrics reads the Prometheus text format into series. Series of a
// process (labelled pid) are keyed without the scraped URL, so that nodes
// sharing a process count it once; per-node series are keyed by url.
func parseMetrics(r io.Reader, url string, series map[string]float64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			return fmt.Errorf("metric line %q", line)
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			return fmt.Errorf("metric line %q: %w", line, err)
		}
		key := line[:sp]
		if !strings.Contains(key, `pid="`) {
			key = url + " " + key
		}
		series[key] = v
	}
	return sc.Err()
}

// sum adds the series named name whose labels include every one of want
// (`label="value"` strings).
func (s metricsSnapshot) sum(name string, want ...string) float64 {
	var total float64
	for k, v := range s.series {
		if _, after, ok := strings.Cut(k, " "); ok {
			k = after
		}
		n, labels, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// processes counts the distinct pids among the process series.
func (s metricsSnapshot) processes() int {
	pids := map[string]bool{}
	for k := range s.series {
		if i := strings.Index(k, `pid="`); i >= 0 && strings.HasPrefix(k, "process_cpu_seconds_total") {
			pids[k[i:]] = true
		}
	}
	return len(pids)
}

var dropReasons = []string{"queue_full", "publish_failed", "disconnected"}

// natsSlowKinds are the slow consumers nats-server counted
// (herd_nats_limit_hits_total): connections and routes it cut, losing
// what was queued on them.
var natsSlowKinds = []string{"slow_consumer", "route_slow_consumer"}

// herdStats is what changed between two scrapes over a load of iamat
// IAMATs.
func herdStats(before, after metricsSnapshot, nodes int, iamat int64) *HerdStats {
	d := func(name string, want ...string) float64 { return after.sum(name, want...) - before.sum(name, want...) }
	h := &HerdStats{
		Nodes: nodes, Processes: after.processes(),
		CPUSeconds:    d("process_cpu_seconds_total"),
		RSSBytes:      after.sum("process_resident_memory_bytes"),
		Records:       after.sum("herd_records"),
		FloodMessages: d("herd_flood_published_messages_total"),
		FloodRecords:  d("herd_flood_published_records_total"),
		Dropped:       map[string]float64{},
		Exchanges:     map[string]float64{},
		Repaired:      d("herd_antientropy_repaired_records_total"),
		Refused:       d("herd_flood_invalid_total"),
	}
	if secs := after.at.Sub(before.at).Seconds(); secs > 0 {
		h.Cores = h.CPUSeconds / secs
	}
	if iamat > 0 {
		h.CPUPerIAMAT = h.CPUSeconds / float64(iamat) * 1e6
	}
	if h.CPUSeconds > 0 {
		h.GCShare = d("go_cpu_classes_gc_total_cpu_seconds_total") / h.CPUSeconds
	}
	if h.Records > 0 {
		h.RSSPerRecord = h.RSSBytes / h.Records
	}
	for _, r := range dropReasons {
		h.Dropped[r] = d("herd_flood_dropped_records_total", `reason="`+r+`"`)
	}
	for _, k := range natsSlowKinds {
		h.Dropped["nats_"+k] = d("herd_nats_limit_hits_total", `kind="`+k+`"`)
	}
	for _, r := range []string{"in_sync", "differed", "interrupted", "failed"} {
		h.Exchanges[r] = d("herd_antientropy_exchanges_total", `result="`+r+`"`)
	}
	closedBefore := before.byLabel("herd_nats_route_closed_total", "reason")
	for r, v := range after.byLabel("herd_nats_route_closed_total", "reason") {
		if v -= closedBefore[r]; v > 0 {
			if h.RouteClosed == nil {
				h.RouteClosed = map[string]float64{}
			}
			h.RouteClosed[r] = v
		}
	}
	return h
}

// writeHerdStats prints h for people.
func writeHerdStats(p func(string, ...any), h *HerdStats) {
	p("herd          (own /metrics: %d nodes, %d process(es))", h.Nodes, h.Processes)
	perIAMAT := ""
	if h.CPUPerIAMAT > 0 {
		perIAMAT = fmt.Sprintf(", %.1f µs per IAMAT", h.CPUPerIAMAT)
	}
	p("  cpu         %.2f s = %.2f cores%s; GC %.1f%% of it", h.CPUSeconds, h.Cores, perIAMAT, 100*h.GCShare)
	perRecord := ""
	if h.RSSPerRecord > 0 {
		perRecord = fmt.Sprintf(" = %.0f B per record held (%.0f records on all nodes)", h.RSSPerRecord, h.Records)
	}
	p("  rss         %.0f MiB%s", h.RSSBytes/(1<<20), perRecord)
	perMsg := 0.0
	if h.FloodMessages > 0 {
		perMsg = h.FloodRecords / h.FloodMessages
	}
	var drops []string
	total := 0.0
	for _, r := range append(append([]string(nil), dropReasons...), "nats_slow_consumer", "nats_route_slow_consumer") {
		drops = append(drops, fmt.Sprintf("%s %.0f", r, h.Dropped[r]))
		total += h.Dropped[r]
	}
	p("  flood       %.0f records in %.0f messages (%.1f per message); dropped %.0f (%s); refused %.0f", h.FloodRecords, h.FloodMessages, perMsg, total, strings.Join(drops, ", "), h.Refused)
	p("  routes      closed: %s", byReason(h.RouteClosed))
	p("  sync        %.0f exchanges (%.0f in sync, %.0f differed, %.0f interrupted, %.0f failed), %.0f records repaired",
		h.Exchanges["in_sync"]+h.Exchanges["differed"]+h.Exchanges["interrupted"]+h.Exchanges["failed"],
		h.Exchanges["in_sync"], h.Exchanges["differed"], h.Exchanges["interrupted"], h.Exchanges["failed"], h.Repaired)
}
