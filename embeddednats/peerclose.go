package embeddednats

import (
	"errors"
	"net"
	"strings"
	"syscall"
)

// A route or gateway peer that goes away — a neighbor node stopping, in
// order or not — closes its end of the connection. nats-server reports at
// error level what follows on the nodes still running:
//
//   - a write it had in flight on the route fails with EPIPE or ECONNRESET
//     ("Error flushing: writev ...: broken pipe"), one line per pooled
//     route, on every node, when a herd stops node after node;
//   - its redial of a configured route finds nobody listening ("Error
//     trying to connect to route (attempt 1): ... connection refused"),
//     for as long as the neighbor stays away, and at start for neighbors
//     not started yet (nodes may start in any order); or a listener that
//     closes with the dial in its queue ("... connection reset by peer"):
//     the neighbor stopping, or, before it listens, whatever held its port
//     a moment (seen once when a test suite's free-port probes ran beside
//     a starting herd).
//
// A neighbor going away, or not there yet, is not a fault of this node:
// the route's close is reported anyway, /healthz names the missing
// neighbor, and anti-entropy repairs what it missed. So these lines, and
// only these, are logged at info level. Write timeouts (a peer that stopped
// reading), dial timeouts (but on loopback: a busy machine, a warning; see
// loopbackDialTimeout), refused credentials or certificates and every
// other error keep their level.

// Formats of the nats-server lines above (route.go, client.go).
const (
	flushFormat       = "Error flushing: %v"
	routeDialFormat   = "Error trying to connect to route (attempt %v): %v"
	routeConnMarker   = " - rid:"
	gatewayConnMarker = " - gid:"
)

// peerWentAway reports whether an Errorf call is one of those lines.
func peerWentAway(format string, v []any) bool {
	switch {
	case gatewayRefused(format, v): // gateway.go
		return true
	case format == routeDialFormat && len(v) == 2:
		err, ok := v[1].(error)
		return ok && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET))
	case strings.HasSuffix(format, flushFormat) && len(v) == 1:
		// The format starts with the connection's description, "<addr> -
		// rid:<n>" for a route and "<addr> - gid:<n>" for a gateway.
		conn := strings.TrimSuffix(format, flushFormat)
		if !strings.Contains(conn, routeConnMarker) && !strings.Contains(conn, gatewayConnMarker) {
			return false
		}
		err, ok := v[0].(error)
		return ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
	}
	return false
}

// loopbackDialTimeout reports whether an Errorf call says a route dial to
// a loopback address timed out.
func loopbackDialTimeout(format string, v []any) bool {
	if format != routeDialFormat || len(v) != 2 {
		return false
	}
	var op *net.OpError
	if err, ok := v[1].(error); !ok || !errors.As(err, &op) || !op.Timeout() {
		return false
	}
	addr, ok := op.Addr.(*net.TCPAddr)
	return ok && addr.IP.IsLoopback()
}
