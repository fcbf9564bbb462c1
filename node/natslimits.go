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

// natsLimitCollector reads the embedded server's limit hits at scrape time.
type natsLimitCollector struct {
	desc *prometheus.Desc
	ns   *embeddednats.Server
}

var _ prometheus.Collector = natsLimitCollector{}

func (c natsLimitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c natsLimitCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.ns.LimitHits()
	for _, k := range natsLimitKinds {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(k.count(h)), k.kind)
	}
}

// routeClosedCollector reads the embedded server's route closes at
// scrape time.
type routeClosedCollector struct {
	desc *prometheus.Desc
	ns   *embeddednats.Server
}

var _ prometheus.Collector = routeClosedCollector{}

func (c routeClosedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c routeClosedCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, v := range c.ns.RouteCloses() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), reason)
	}
}

// registerNATSLimits exports ns's limit hits and route closes in the
// node's metrics.
func (n *Node) registerNATSLimits(ns *embeddednats.Server) error {
	closed := prometheus.NewDesc(metrics.Namespace+"_nats_route_closed_total",
		"NATS route connections to other nodes this node's server closed, by nats-server's reason (duplicate_route at "+
			"start and server_shutdown or read_error when a node stops are expected; any other while the herd runs lost "+
			"the flood messages queued on the route).",
		[]string{"reason"}, prometheus.Labels{"node": n.cfg.Name})
	if err := n.metrics.Registry().Register(routeClosedCollector{desc: closed, ns: ns}); err != nil {
		return fmt.Errorf("register nats route metrics: %w", err)
	}
	desc := prometheus.NewDesc(metrics.Namespace+"_nats_limit_hits_total",
		"NATS client port (observers) refused by a limit of limits.observers, by kind: slow_consumer counts connections cut "+
			"for falling behind; subscriptions, connections and payload count the refusals nats-server reports "+
			"(a repeated one at most once a second, subscriptions once every 2 s); route_slow_consumer counts routes to other "+
			"nodes cut for falling behind (their queued flood messages lost).",
		[]string{"kind"}, prometheus.Labels{"node": n.cfg.Name})
	if err := n.metrics.Registry().Register(natsLimitCollector{desc: desc, ns: ns}); err != nil {
		return fmt.Errorf("register nats limit metrics: %w", err)
	}
	return nil
}
