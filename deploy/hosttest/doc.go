// Package hosttest runs the five-host herd of deploy/hosts/herd.yaml for
// real: one `herd node` process per network namespace, each namespace a
// host with its own address and /etc/hosts, linked by veth pairs to a
// bridge, with TLS and authenticated routes. Its test needs root and
// iproute2; it skips without them unless HERD_REQUIRE_NETNS=1 (CI sets it).
package hosttest
