package embeddednats

import (
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// A route connection that closes loses what its buffers held: the flood
// messages nats-server had queued on it and not yet written, and those
// published until the route (and the interest it carries) is back, which
// nats-server drops without a count, as it does any message nobody is
// known to want. nats-server reports the close only in a notice ("Router
// connection closed: <reason>"), below the level the herd logs it at, so
// every close is counted here, by reason, before the log level drops it:
// a flood loss without any other counter shows up as a route close.

// routeCloseFormats are the formats nats-server closes a route with
// (client.go markConnAsClosed), after the connection's description: the
// arguments are the connection kind, the ClosedState and, with the
// second, the remote server's name.
var routeCloseFormats = []string{"%s connection closed: %s - %s", "%s connection closed: %s"}

// routeKind is nats-server's kind string of a route connection.
const routeKind = "Router"

// routeCloses counts route connections closed, by reason, and tells
// onClose.
type routeCloses struct {
	onClose func(remote, reason string) // Config.OnRouteClosed; set before Start
	// onRefused, set before Start, is told of each route connection rid
	// to remote that closed because the remote answered it with an error
	// (a refusal, or a cut expiring it): the chaos gate's redial
	// (Server.routeRefused).
	onRefused func(remote string, rid uint64)
	// onGone, set before Start, is told of each route connection rid
	// (0 if the line does not say) to remote that closed (the chaos
	// gate's short-pool watch, Server.routeGone), but for two reasons
	// that no redial of this server's mends (goneCounts).
	onGone func(remote string, rid uint64)

	mu sync.Mutex // guards n and violated
	n  map[string]uint64
	// violated holds the ids of the route connections the remote refused
	// (answered with -ERR 'Authorization Violation'), until they close:
	// nats-server logs that error just before it closes the route.
	violated map[uint64]bool
}

// goneCounts reports whether a route's close is news to the short-pool
// watch. Not if this server's own reload removed the route (RouteRemoved):
// the reload dials what replaces it. Not if the remote refused it: the
// remote does not let this node in (a wrong password or certificate, or a
// cut at the remote), so a redial would fill nothing, and nats-server
// redials the route anyway, backed off by the remote (refusals.go). Such a
// refused route is registered here while the remote holds its refusal, so
// the watch saw routes "left" and redialled every shortGrace: each redial
// closed the routes it removed, which started the next watch, and a
// refused node was dialled about once a second by every peer, each peer
// reloading its options every 2s, for as long as the mistake lasted.
func goneCounts(reason server.ClosedState, refused bool) bool {
	return reason != server.RouteRemoved && !refused
}

// errorf notes a route connection that the remote refused.
func (r *routeCloses) errorf(format string, v []any) {
	if !strings.HasSuffix(format, routeError) || len(v) != 1 || v[0] != authViolation {
		return
	}
	rid, ok := routeID(format)
	if !ok {
		return
	}
	r.mu.Lock()
	if r.violated == nil || len(r.violated) >= maxRepeats {
		r.violated = make(map[uint64]bool) // ids whose close never came: forget them
	}
	r.violated[rid] = true
	r.mu.Unlock()
}

// refused reports whether the remote refused route connection rid, and
// forgets it (it closed).
func (r *routeCloses) refused(rid uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.violated[rid]
	delete(r.violated, rid)
	return was
}

// remoteTag starts the tag nats-server appends with the remote server's
// name (the second of routeCloseFormats).
const remoteTag = "Remote: "

// noticef counts the notice in format and v if it is a route's close.
func (r *routeCloses) noticef(format string, v []any) {
	if !strings.Contains(format, routeConnMarker) || len(v) < 2 || v[0] != routeKind {
		return
	}
	reason, ok := v[1].(server.ClosedState)
	if !ok || !hasAnySuffix(format, routeCloseFormats) {
		return
	}
	label := ReasonLabel(reason)
	r.mu.Lock()
	if r.n == nil {
		r.n = make(map[string]uint64)
	}
	r.n[label]++
	r.mu.Unlock()
	remote := ""
	if len(v) > 2 {
		if tags, ok := v[2].(string); ok {
			remote, _ = strings.CutPrefix(tags, remoteTag)
			remote, _, _ = strings.Cut(remote, ", ")
		}
	}
	if r.onClose != nil {
		r.onClose(remote, label)
	}
	// nats-server closes a route with ParseError when the remote sends
	// -ERR, which a herd node sends on a route only to refuse or expire it.
	rid, ok := routeID(format)
	refused := ok && r.refused(rid)
	if r.onGone != nil && remote != "" && goneCounts(reason, refused) {
		r.onGone(remote, rid)
	}
	if ok && r.onRefused != nil && remote != "" && reason == server.ParseError {
		r.onRefused(remote, rid)
	}
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// snapshot returns a copy of the counts.
func (r *routeCloses) snapshot() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]uint64, len(r.n))
	for k, v := range r.n {
		m[k] = v
	}
	return m
}

// ReasonLabel is a ClosedState as a metric label: "Stale Connection" is
// stale_connection, "Slow Consumer (Write Deadline)" is
// slow_consumer_write_deadline.
func ReasonLabel(reason server.ClosedState) string {
	var b strings.Builder
	under := false
	for _, c := range reason.String() {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			under = b.Len() > 0
			continue
		}
		if under {
			b.WriteByte('_')
			under = false
		}
		b.WriteRune(c)
	}
	return b.String()
}

// RouteCloses returns how many route connections to other servers of the
// cluster this server closed since it started, by reason (ReasonLabel).
// Closes at start (duplicate_route: two servers dialled each other) and
// at stop (server_shutdown, read_error from a peer that went away) are
// expected; any other, while the herd runs, lost the messages queued on
// the route.
func (s *Server) RouteCloses() map[string]uint64 { return s.closes.snapshot() }
