// Package metrics is one node's Prometheus metrics: a registry of its own
// (several nodes share a process, so nothing goes to the global default
// registry) and the hooks the node's parts report through, each a complete
// interface checked at compile time — the command core's and the client
// port's Observers, the flood's and anti-entropy's Observers — plus a
// Places wrapper counting calls by status and the resilient layer's
// upstream hook and stats.
//
// Hooks on the hot path are allocation-free: counters are created once and
// picked by index (command and outcome, neighbor, typed reason, status),
// never by building or matching label strings per call.
package metrics

import (
	"errors"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/server"
)

// Namespace prefixes every herd metric.
const Namespace = "herd"

// Config names the node and its neighbors (the flood metrics are labelled
// by neighbor; any other sender counts as "other").
type Config struct {
	Node      string
	Neighbors []string
}

// otherPeer labels flood traffic with a node that is not a configured
// neighbor (a neighbor added later, a misconfigured or forged sender). It
// keeps label values bounded whatever arrives on the bus.
const otherPeer = "other"

// peer holds the flood counters of one neighbor.
type peer struct {
	name          string
	pubMsgs       prometheus.Counter
	pubRecs       prometheus.Counter
	relayed       prometheus.Counter
	stored, stale prometheus.Counter
	refused       [bus.NumRefusals]prometheus.Counter
}

// Results of an anti-entropy exchange, as herd_antientropy_exchanges_total
// labels them.
const (
	exchangeInSync = iota
	exchangeRepaired
	exchangeInterrupted
	exchangeFailed
	numExchangeResults
)

var exchangeResults = [numExchangeResults]string{"in_sync", "differed", "interrupted", "failed"}

// Results of a received flood record.
var receivedResults = [2]string{"stale", "stored"} // indexed by newer

// Metrics is one node's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	f   factory // registers with the node label

	storageOnce sync.Once
	storage     *Storage // made by the first call of Storage

	commands    [core.NumCommands][core.NumOutcomes]prometheus.Counter
	connsOpened prometheus.Counter
	connsOpen   prometheus.Gauge

	peers        []peer // configured neighbors, then "other" last
	dropped      [bus.NumDrops]prometheus.Counter
	floodLatency prometheus.Histogram
	repaired     prometheus.Counter
	exchanges    [numExchangeResults]prometheus.Counter

	placesCalls [places.NumStatuses]prometheus.Counter
	upstream    *prometheus.HistogramVec

	// totals are plain sums for in-process readers (the live view), which
	// should not have to gather the Prometheus registry to get them.
	totals struct{ iamat, whatsat, floodIn, floodOut, repaired atomic.Uint64 }

	// records and placesStats are set once the node's store and provider
	// are known (after New); nil reports nothing.
	records     atomic.Pointer[func() int]
	placesStats atomic.Pointer[placesStatsFunc]
}

// Metrics is every part's observer; a signature that drifts is a compile
// error here, not a counter that silently stays at zero.
var (
	_ core.Observer        = (*Metrics)(nil)
	_ server.Observer      = (*Metrics)(nil)
	_ bus.Observer         = (*Metrics)(nil)
	_ antientropy.Observer = (*Metrics)(nil)
)

// ProcessLabel labels the process and Go runtime metrics with the
// process's id: they describe the whole process, which several nodes share
// under `herd up`, so they carry no node label, and a reader that scrapes
// every node counts each pid once (herd bench does).
const ProcessLabel = "pid"

// gcCPU adds the runtime's estimate of the CPU time spent in garbage
// collection (go_cpu_classes_gc_total_cpu_seconds_total) to the Go
// collector's defaults: against process_cpu_seconds_total it is the GC's
// share of the process's CPU.
var gcCPU = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/gc/total:cpu-seconds$`)}

// New makes the metrics of one node on a registry of their own, with the
// Go runtime and process collectors. It does no I/O.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	proc := prometheus.WrapRegistererWith(prometheus.Labels{ProcessLabel: strconv.Itoa(os.Getpid())}, m.reg)
	proc.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(gcCPU)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r := prometheus.WrapRegistererWith(prometheus.Labels{"node": cfg.Node}, m.reg)
	f := factory{r}
	m.f = f

	commands := f.counterVec("client_commands_total",
		"Client commands (TCP port and NATS service) by command and outcome.", "command", "outcome")
	// Only the pairs that happen are exported; the others count into a
	// counter nobody scrapes, so Command never meets a nil.
	discard := prometheus.NewCounter(prometheus.CounterOpts{Name: "discard"})
	for c := range core.NumCommands {
		for o := range core.NumOutcomes {
			m.commands[c][o] = discard
		}
	}
	for _, p := range commandOutcomes {
		m.commands[p.c][p.o] = commands.WithLabelValues(p.c.String(), p.o.String())
	}
	m.connsOpened = f.counter("client_connections_opened_total", "Client TCP connections accepted.")
	m.connsOpen = f.gauge("client_connections", "Client TCP connections open now.")

	pubMsgs := f.counterVec("flood_published_messages_total", "Flood messages published, by receiving neighbor.", "to")
	pubRecs := f.counterVec("flood_published_records_total", "Records published in flood messages (own and relayed), by receiving neighbor.", "to")
	relayed := f.counterVec("flood_relayed_records_total", "Records relayed for another origin, by receiving neighbor.", "to")
	received := f.counterVec("flood_received_records_total", "Flood records received, by sender and result (stored: newer; stale: dropped).", "from", "result")
	refused := f.counterVec("flood_invalid_total", "Flood and anti-entropy messages or lines refused (never stored), by sender and reason: not_neighbor, bad_headers, bad_record, bad_request.", "from", "reason")
	for _, name := range append(append([]string(nil), cfg.Neighbors...), otherPeer) {
		p := peer{
			name:    name,
			pubMsgs: pubMsgs.WithLabelValues(name),
			pubRecs: pubRecs.WithLabelValues(name),
			relayed: relayed.WithLabelValues(name),
			stored:  received.WithLabelValues(name, receivedResults[1]),
			stale:   received.WithLabelValues(name, receivedResults[0]),
		}
		for why := range bus.NumRefusals {
			p.refused[why] = refused.WithLabelValues(name, why.String())
		}
		m.peers = append(m.peers, p)
	}
	dropped := f.counterVec("flood_dropped_records_total", "Records lost to the flood: queue_full: publish queue full, publish_failed: a round written while the flood link was down, or (episodes, not records) disconnected: the flood link lost its NATS server.", "reason")
	for d := range bus.NumDrops {
		m.dropped[d] = dropped.WithLabelValues(d.String())
	}
	m.floodLatency = f.histogram("flood_latency_seconds",
		"Time from the origin publishing a record to this node storing it (clocks of two nodes: skew shows here).",
		prometheus.ExponentialBuckets(50e-6, 2, 18)) // 50µs .. 6.5s
	m.repaired = f.counter("antientropy_repaired_records_total", "Records stored through anti-entropy rather than the flood (pulled by this node's exchanges or pushed by a neighbor's).")
	exchanges := f.counterVec("antientropy_exchanges_total", "Anti-entropy exchanges this node started, by result: in_sync (one root request), differed (records swapped), interrupted (failed while swapping records: some may be repaired), failed (before any record was sent).", "result")
	for i, r := range exchangeResults {
		m.exchanges[i] = exchanges.WithLabelValues(r)
	}

	f.gaugeFunc("records", "Client records held.", func() float64 {
		if fn := m.records.Load(); fn != nil {
			return float64((*fn)())
		}
		return 0
	})

	calls := f.counterVec("places_calls_total", "Places searches answered to WHATSAT, by classic status (ERROR: no response).", "status")
	// Upstream children appear on first use: an offline herd has none.
	m.upstream = f.histogramVec("places_upstream_duration_seconds",
		"Upstream Places attempts (Google providers), by classic status.", prometheus.DefBuckets, "status")
	for i, s := range places.Statuses {
		m.placesCalls[i] = calls.WithLabelValues(s)
	}
	r.MustRegister(placesCollector{m})
	return m
}

// commandOutcomes are the outcomes each command can have.
var commandOutcomes = []struct {
	c core.Command
	o core.Outcome
}{
	{core.CommandIAMAT, core.OutcomeStored}, {core.CommandIAMAT, core.OutcomeStale},
	{core.CommandIAMAT, core.OutcomeInvalid},
	{core.CommandWHATSAT, core.OutcomeAnswered}, {core.CommandWHATSAT, core.OutcomeUnknownClient},
	{core.CommandWHATSAT, core.OutcomeInvalid},
	{core.CommandInvalid, core.OutcomeInvalid},
}

// Registry is the node's registry, for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetRecords sets the function behind the records gauge (the store's Len).
func (m *Metrics) SetRecords(fn func() int) { m.records.Store(&fn) }

// Command counts one client command, at any door (core.Observer).
func (m *Metrics) Command(c core.Command, o core.Outcome) {
	if c < core.NumCommands && o < core.NumOutcomes {
		m.commands[c][o].Inc()
	}
	switch c {
	case core.CommandIAMAT:
		m.totals.iamat.Add(1)
	case core.CommandWHATSAT:
		m.totals.whatsat.Add(1)
	}
}

// Totals are cumulative counts of a node's traffic.
type Totals struct {
	IAMAT, WHATSAT    uint64 // client commands of each kind, any outcome
	FloodIn, FloodOut uint64 // flood records received and published
	Repaired          uint64 // records anti-entropy stored
}

// Totals returns the counts so far. Safe on a nil *Metrics (all zero).
func (m *Metrics) Totals() Totals {
	if m == nil {
		return Totals{}
	}
	return Totals{
		IAMAT: m.totals.iamat.Load(), WHATSAT: m.totals.whatsat.Load(),
		FloodIn: m.totals.floodIn.Load(), FloodOut: m.totals.floodOut.Load(),
		Repaired: m.totals.repaired.Load(),
	}
}

// Connection counts a client connection opened or closed (server.Observer).
func (m *Metrics) Connection(open bool) {
	if open {
		m.connsOpened.Inc()
		m.connsOpen.Inc()
	} else {
		m.connsOpen.Dec()
	}
}

// peer finds a neighbor's counters: a linear scan of a handful of names,
// cheaper than a map and free of allocation.
func (m *Metrics) peer(name string) *peer {
	last := len(m.peers) - 1
	for i := range last {
		if m.peers[i].name == name {
			return &m.peers[i]
		}
	}
	return &m.peers[last]
}

// Published counts a flood message of n records to a neighbor (bus.Observer).
func (m *Metrics) Published(to string, n int) {
	p := m.peer(to)
	p.pubMsgs.Inc()
	p.pubRecs.Add(float64(n))
	m.totals.floodOut.Add(uint64(n))
}

// Relayed counts records relayed for another origin (bus.Observer).
func (m *Metrics) Relayed(to string, n int) { m.peer(to).relayed.Add(float64(n)) }

// Received counts a flood record, stored or stale (bus.Observer).
func (m *Metrics) Received(from string, newer bool) {
	m.totals.floodIn.Add(1)
	if p := m.peer(from); newer {
		p.stored.Inc()
	} else {
		p.stale.Inc()
	}
}

// Latency observes the time from the origin's stamp to storing (bus.Observer).
func (m *Metrics) Latency(d time.Duration) { m.floodLatency.Observe(d.Seconds()) }

// Dropped counts records the flood lost (bus.Observer).
func (m *Metrics) Dropped(n int, why bus.Drop) {
	if why < bus.NumDrops {
		m.dropped[why].Add(float64(n))
	}
}

// Refused counts a refused message or line (bus.Observer and
// antientropy.Observer).
func (m *Metrics) Refused(from string, why bus.Refusal) {
	if why < bus.NumRefusals {
		m.peer(from).refused[why].Inc()
	}
}

// Repaired counts n records anti-entropy stored from peer
// (antientropy.Observer).
func (m *Metrics) Repaired(_ string, n int) {
	m.repaired.Add(float64(n))
	m.totals.repaired.Add(uint64(n))
}

// Synced counts one exchange this node started (antientropy.Observer).
func (m *Metrics) Synced(_ string, inSync bool, err error) {
	switch {
	case errors.Is(err, antientropy.ErrInterrupted):
		m.exchanges[exchangeInterrupted].Inc()
	case err != nil:
		m.exchanges[exchangeFailed].Inc()
	case inSync:
		m.exchanges[exchangeInSync].Inc()
	default:
		m.exchanges[exchangeRepaired].Inc()
	}
}

// factory registers metrics in the herd namespace on r.
type factory struct{ r prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) gaugeFunc(name, help string, fn func() float64) {
	f.r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn))
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.r.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.r.MustRegister(h)
	return h
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.r.MustRegister(g)
	return g
}
