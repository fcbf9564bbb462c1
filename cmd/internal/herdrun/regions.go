package herdrun

import (
	"net"
	"slices"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
)

// gatewayConfig sets cfg's gateway: the node's gateway address and the
// other regions, each with the gateway addresses of its nodes in hf (port
// 0 ones left out: not known in advance; that region's nodes dial this
// one). A node without a gateway address (a herd of one region) has
// none.
func gatewayConfig(hf herdfile.Config, n herdfile.Node, cfg *node.Config) {
	if n.Gateway == "" {
		return
	}
	cfg.NATS.GatewayAddr = n.Gateway
	if isHostName(n.Gateway) {
		// As for the cluster address: other regions dial the name, which
		// the certificate names, also when they learn it by gossip.
		cfg.NATS.GatewayAdvertise = n.Gateway
	}
	own := hf.Region(n.Name)
	for _, r := range hf.Regions() {
		if r == own {
			continue
		}
		region := embeddednats.Region{Name: r}
		for _, g := range hf.Gateways(r) {
			if _, port, _ := net.SplitHostPort(g); port != "0" {
				region.Gateways = append(region.Gateways, g)
			}
		}
		cfg.NATS.Regions = append(cfg.NATS.Regions, region)
	}
}

// startedGateways gives a node started together with others (names) the
// real gateway addresses of the nodes of other regions started before it,
// in place of port 0 in the file: a herd on port 0 then forms its
// gateways as its routes, each region dialling the ones started before
// and NATS dialling back.
func startedGateways(hf herdfile.Config, names []string, started map[string]string, cfg *node.Config) {
	for i, r := range cfg.NATS.Regions {
		for _, m := range hf.RegionNodes(r.Name) {
			n, _ := hf.Node(m)
			addr, ok := started[m]
			if _, port, _ := net.SplitHostPort(n.Gateway); !ok || port != "0" || !slices.Contains(names, m) || addr == "" {
				continue
			}
			cfg.NATS.Regions[i].Gateways = append(cfg.NATS.Regions[i].Gateways, addr)
		}
	}
}

// isHostName reports whether addr's host is a name rather than an IP.
func isHostName(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && net.ParseIP(host) == nil
}
