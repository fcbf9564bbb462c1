package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/metrics"
)

// natsLimitKinds label herd_nats_limit_hits_total, one per field of
// embeddednats.LimitHits.
var natsLimitKinds = []struct {
	kind  string
	count func(embeddednats.LimitHits) uint64
}{
	{"slow_consumer", func(h embeddednats.LimitHits) uint64 { return h.SlowConsumers }},
	{"subscriptions", func(h embeddednats.LimitHits) uint64 { return h.Subscriptions }},
	{"connections", func(h embeddednats.LimitHits) uint64 { return h.Connections }},
	{"payload", func(h embeddednats.LimitHits) uint64 { return h.Payload }},
	{"route_slow_consumer", func(h embeddednats.LimitHits) uint64 { return h.RouteSlowConsumers }},
}

// natsCollector reads counts of the embedded server, by label value, at
// scrape time.
type natsCollector struct {
	desc *prometheus.Desc
	read func() map[string]uint64
}

var _ prometheus.Collector = natsCollector{}

func (c natsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c natsCollector) Collect(ch chan<- prometheus.Metric) {
	for label, v := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), label)
	}
}

// limitHits are ns's limit hits by kind.
func limitHits(ns *embeddednats.Server) map[string]uint64 {
	h := ns.LimitHits()
	m := make(map[string]uint64, len(natsLimitKinds))
	for _, k := range natsLimitKinds {
		m[k.kind] = k.count(h)
	}
	return m
}

// registerNATSLimits exports ns's limit hits and route closes in the
// node's metrics.
func (n *Node) registerNATSLimits(ns *embeddednats.Server) error {
	closed := prometheus.NewDesc(metrics.Namespace+"_nats_route_closed_total",
		"NATS route connections to other nodes this node's server closed, by nats-server's reason (duplicate_route at "+
			"start and server_shutdown or read_error when a node stops are expected; any other while the herd runs lost "+
			"the flood messages queued on the route).",
		[]string{"reason"}, prometheus.Labels{"node": n.cfg.Name})
	if err := n.metrics.Registry().Register(natsCollector{desc: closed, read: ns.RouteCloses}); err != nil {
		return fmt.Errorf("register nats route metrics: %w", err)
	}
	desc := prometheus.NewDesc(metrics.Namespace+"_nats_limit_hits_total",
		"NATS client port (observers) refused by a limit of limits.observers, by kind: slow_consumer counts connections cut "+
			"for falling behind; subscriptions, connections and payload count the refusals nats-server reports "+
			"(a repeated one at most once a second, subscriptions once every 2 s); route_slow_consumer counts routes to other "+
			"nodes cut for falling behind (their queued flood messages lost).",
		[]string{"kind"}, prometheus.Labels{"node": n.cfg.Name})
	if err := n.metrics.Registry().Register(natsCollector{desc: desc, read: func() map[string]uint64 { return limitHits(ns) }}); err != nil {
		return fmt.Errorf("register nats limit metrics: %w", err)
	}
	return nil
}
