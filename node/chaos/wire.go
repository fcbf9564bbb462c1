// Package chaos cuts and heals the NATS routes of a live herd and stops and
// starts its nodes, as `herd chaos` does: each node run with chaos on
// serves a small request/reply service in the NATS system account, where
// only the system user reaches it, and applies what it is told to its own
// routes through its embedded server's chaos gate (embeddednats
// BlockRoutes), which sits in the route authentication and so works with
// route TLS. A cut of A–B is applied by A for B and by B for A; Client
// talks to each node concerned, through the cluster or, when the cluster
// does not reach a node (it is stopped, or on the other side of a
// partition) or the node's change closes the route its answer would take,
// through that node's own NATS client port.
//
// Subjects (system account) and JSON are in this file; the README's Chaos
// section shows them with `nats request`.
package chaos

import (
	"errors"
	"time"
)

// Subjects of the service, in the NATS system account.
const (
	// SubjectPrefix starts every subject: herd.chaos.<node>.<verb> for one
	// node.
	SubjectPrefix = "herd.chaos."
	// StatusAll is answered by every node with chaos on: one request,
	// one Status per node the cluster reaches.
	StatusAll = SubjectPrefix + "status"
)

// Verbs: the last token of herd.chaos.<node>.<verb>.
const (
	// VerbCut cuts the routes to Request.Peers, for Request.For if set.
	VerbCut = "cut"
	// VerbHeal heals the cuts of Request.Peers, or every cut with
	// Request.All.
	VerbHeal = "heal"
	// VerbStop stops the node: its client port, and every route (so the
	// flood); the process and its NATS client port stay. For Request.For
	// if set.
	VerbStop = "stop"
	// VerbStart starts a stopped node again.
	VerbStart = "start"
	// VerbStatus answers the node's Status.
	VerbStatus = "status"
)

// Subject is where node takes verb.
func Subject(node, verb string) string { return SubjectPrefix + node + "." + verb }

// Request is the body of every request (empty for stop without For, start
// and status).
type Request struct {
	// Peers are the nodes whose routes to cut or heal.
	Peers []string `json:"peers,omitempty"`
	// All heals every cut (heal).
	All bool `json:"all,omitempty"`
	// For, a Go duration ("30s", "2m"), heals the cut or starts the
	// stopped node by itself after that long. Empty: until told.
	For string `json:"for,omitempty"`
}

// Status is every reply: the node's chaos state after the request, or
// Error alone.
type Status struct {
	Node string `json:"node,omitempty"`
	// NATS is the node's NATS client URL, which stays up while it is
	// stopped.
	NATS string `json:"nats,omitempty"`
	// Stopped is set while the node is stopped.
	Stopped *Since `json:"stopped,omitempty"`
	// Cuts are the peers whose routes this node cuts, sorted.
	Cuts []Cut `json:"cuts,omitempty"`
	// Routes are the peers this node has a NATS route to now.
	Routes []string `json:"routes,omitempty"`
	// Herd is every node of the herd as this node's herd file has it,
	// with the NATS address to reach it by directly.
	Herd []Member `json:"herd,omitempty"`
	// Error says why the request failed; nothing else is set then.
	Error string `json:"error,omitempty"`
}

// Since is when a state began, its age and, if it ends by itself, how long
// it has left; durations as Go durations ("1m2.5s"), measured by the node.
type Since struct {
	Since time.Time `json:"since"`
	Age   string    `json:"age"`
	Left  string    `json:"left,omitempty"`
}

// Cut is one cut route.
type Cut struct {
	Peer string `json:"peer"`
	Since
}

// Member is one node of the herd.
type Member struct {
	Name string `json:"name"`
	// NATS is its NATS client address (host:port, or a nats:// URL).
	NATS string `json:"nats"`
}

// Errors, in one block.
var (
	ErrUnknownNode   = errors.New("unknown node")
	ErrSameNode      = errors.New("a route needs two different nodes")
	ErrStopped       = errors.New("node is stopped")
	ErrRunning       = errors.New("node is running")
	ErrBadRequest    = errors.New("bad request")
	ErrClosed        = errors.New("chaos service closed")
	ErrInvalidConfig = errors.New("invalid chaos config")
	ErrUnreachable   = errors.New("node unreachable")
	ErrNoService     = errors.New("no chaos service answered")
	ErrCredentials   = errors.New("no credentials")
	ErrOtherRegion   = errors.New("in another region: herd chaos cuts routes inside a region, not the gateways between regions")
)
