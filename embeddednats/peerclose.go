package embeddednats

import (
	"errors"
	"strings"
	"syscall"
)

// A route or gateway peer that goes away — a neighbor node stopping, in
// order or not — closes its end of the connection. A write this server had
// in flight on it then fails with EPIPE or ECONNRESET, which nats-server
// reports at error level ("Error flushing: writev ...: broken pipe"), one
// line per pooled route. When a herd stops node after node, every node
// still running logs a few. A neighbor going away is not a fault of this
// node: the route's close is reported anyway, /healthz names the missing
// neighbor, and anti-entropy repairs what it missed. So these lines, and
// only these, are logged at info level. Write timeouts (a peer that stopped
// reading) and every other error keep their level.

// flushFormat is the tail of nats-server's format for a failed write.
const flushFormat = "Error flushing: %v"

// peerWentAway reports whether an Errorf call is a route or gateway write
// that failed because the peer closed the connection.
func peerWentAway(format string, v []any) bool {
	if len(v) != 1 || !strings.HasSuffix(format, flushFormat) {
		return false
	}
	// The format starts with the connection's description, "<addr> -
	// rid:<n>" for a route and "<addr> - gid:<n>" for a gateway.
	conn := strings.TrimSuffix(format, flushFormat)
	if !strings.Contains(conn, " - rid:") && !strings.Contains(conn, " - gid:") {
		return false
	}
	err, ok := v[0].(error)
	return ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
}
