// Package hosttest runs the five-host herd of deploy/hosts/herd.yaml for
// real: one `herd node` process per network namespace, each namespace a
// host with its own address and /etc/hosts, linked by veth pairs to a
// bridge, with TLS and authenticated routes. Its test needs root and
// iproute2; it skips without them unless HERD_REQUIRE_NETNS=1 (CI sets it).
// TestRegions_WAN runs the topology of deploy/regions.yaml the same way on
// nine hosts in three regions, with a 40 ms WAN between regions made in
// user space (package wan).
package hosttest
