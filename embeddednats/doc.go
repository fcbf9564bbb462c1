// Package embeddednats starts, stops and configures the one nats-server that
// every herd node embeds, and hands out in-process nats.go connections to it.
//
// The servers of a herd form one NATS cluster (one ClusterName) — or, in a
// herd of several regions, one cluster per region (ClusterName is the
// region) joined through gateways (gateway.go: GatewayAddr, Regions). Each server
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
// Peers (peers.go) are the herd's other servers by name. Every peer whose
// route port is known is dialled as a configured route, so a herd on fixed
// ports meshes without gossip, and SetPeers (a reloaded herd file) adds
// routes and drops them for good: nats-server redials a gossip-learned
// route for as long as ConnectRetries says, and only a configuration
// reload ends a configured one. With PeersOnly a server accepts routes only
// from its peers.
//
// Every route this server dials presents the user "<its name>@<route
// user>" (peers.go): a route's CONNECT carries only the random server ID,
// and the accepting server needs the name to check the dialler
// (routecheck.go, nats-server's CustomRouterAuthentication): the route
// password, membership, and, with route TLS verifying diallers, that the
// certificate names the host of the peer it claims to be. Refusals say
// what is wrong and which setting to check, and are held before they are
// answered, longer each time (refusals.go), so that a refused server's
// redials, and the redials of every server that learned its address by
// gossip, back off to one every refusalHoldMax.
//
// With Chaos, BlockRoutes cuts the routes to chosen peers, or all of them,
// while the server runs (gate.go): the same route authentication refuses
// a cut peer's routes (held until the cut heals), the server dials the
// peer with its route user marked cut, which the peer refuses, and the
// existing routes are closed. It works the same with route TLS.
// ConnectSystem gives the node's chaos service an in-process connection in
// the system account.
//
// The node talks to its own server in-process (Server.Connect); the client
// listener (ClientAddr, loopback by default) is for observers and tools.
// The server's own signal handling is off (NoSigs) and its Fatalf does not
// exit the process: it logs at error level, marks the Server failed (Failed,
// Err) and shuts the embedded server down.
//
// Security. Every server has the account Account ("HERD") and the system
// account ($SYS). The node's in-process connections authenticate with an
// nkey that New generates and keeps only in memory, with full rights in
// Account. A client connection without credentials is the observer
// (no_auth_user) in Account: by default it may subscribe to herd.> and
// _INBOX.> but not to the service subjects (herd.iamat, herd.whatsat,
// $SRV.>) nor in any queue group, and publish only to the service
// subjects, never to the bus (herd.at.>, herd.sync.>); a client with wrong
// credentials is refused. ObserverLimits bound client connections
// (subscriptions, connections, queued bytes, message size) and LimitHits
// counts what they stopped. Routes carry Account's traffic by name, so an
// observer on any node sees the whole herd's flood. Validate refuses open
// routes (no credentials, no verified TLS) on a cluster address that is
// not loopback unless InsecureRoutes says so.
// Optional: a system user (SystemUser/SystemPassword) for `nats server
// list`; route credentials (RouteUser/RoutePassword), which every route
// must present and which this server presents on explicit and
// gossip-learned routes alike; route TLS with CA verification (RouteTLS,
// built by RouteTLSConfig or LoadRouteTLS). A refused route backs off (see
// above), and nats-server's info-and-above log lines pass a token bucket
// (logBurst, logRate), so neither a refused node nor an observer sending
// forbidden publishes can flood the log. Passwords are Secret values,
// which print as [REDACTED].
//
// Core NATS is at-most-once: a publish towards a server whose route is cut
// returns no error and is simply not delivered; across a gateway, likewise
// until the other region has declared its interest (GatewayState.Up).
package embeddednats
