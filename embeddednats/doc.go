// Package embeddednats starts, stops and configures the one nats-server that
// every herd node embeds, and hands out in-process nats.go connections to it.
//
// The servers of a herd form one NATS cluster (one ClusterName). Each server
// is seeded with routes to its configured neighbors only; NATS completes the
// full route mesh itself by gossip: when B accepts a route from C, it tells
// every server it knows (A) about C and A dials C. Routes that a server was
// configured with are "explicit" and are redialled forever after a cut;
// routes learned by gossip are "implicit" and nats-server redials them only
// Config.ConnectRetries times (zero means a single attempt), so the default
// here is effectively forever — otherwise a partition longer than about a
// second leaves the mesh incomplete, and NATS never relays a message over two
// hops: a publish on A would silently miss subscribers on C.
//
// Routes must be known before Start. A herd started on port 0 therefore has
// to start its nodes in an order where every new node seeds routes only to
// nodes already started (whose ClusterAddr is then known); the mesh still
// completes by gossip. A herd on fixed ports may start in any order:
// explicit routes keep redialling until the neighbor is up.
//
// The node talks to its own server in-process (Server.Connect); the client
// listener (ClientAddr, loopback by default) is for observers and tools.
// The server's own signal handling is off (NoSigs) and its Fatalf does not
// exit the process: it logs at error level, marks the Server failed (Failed,
// Err) and shuts the embedded server down.
//
// Core NATS is at-most-once: a publish towards a server whose route is cut
// returns no error and is simply not delivered.
package embeddednats
