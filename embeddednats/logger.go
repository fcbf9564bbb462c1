package embeddednats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/herdhq/herd/bus/ratelog"
)

// LevelTrace is the slog level of nats-server protocol traces (Tracef).
const LevelTrace = slog.LevelDebug - 4

// slogLogger bridges nats-server's Logger interface to log/slog. nats-server's
// own logger exits the process on Fatalf; this one logs at error level and
// calls onFatal, leaving the decision to the owning Server.
type slogLogger struct {
	l       *slog.Logger
	onFatal func(msg string)
	limit   *ratelog.Limiter // info and above (loglimit.go)
	// refusedRoute, if set, reports whether the route connection with this
	// id was refused by this server's routeCheck, which logged why:
	// nats-server's own line for it ("authentication error") is vaguer,
	// and its warning that the read loop was slow (the refusal was held
	// on purpose) no news. Both go to debug level.
	refusedRoute func(rid uint64) bool
	// cutting, if set, reports whether the chaos gate cuts any route of
	// this server, now or lately (gate.go): a peer refusing this server's
	// routes is then expected, and no error.
	cutting func() bool
	// reloading, if set, reports whether the server's options are being
	// reloaded (SetPeers, BlockRoutes). nats-server then checks every
	// client again, and a client closing at that moment fails the check
	// ("Problem registering with account ...: connection closed", then
	// "authentication error"): no fault of anybody's.
	reloading func() bool
	// plainIsObserver is set when the one plain-text password among the
	// server's users is the observer's (auth.go), known to nobody:
	// nats-server's warning about plain-text passwords is then dropped.
	plainIsObserver bool
}

var _ server.Logger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger, onFatal func(string)) *slogLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &slogLogger{l: l, onFatal: onFatal, limit: ratelog.New(l, newLineLimit(time.Now))}
}

func (s *slogLogger) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	msg := strings.TrimRight(fmt.Sprintf(format, redactURLs(v)...), "\r\n")
	if level < slog.LevelInfo {
		s.l.Log(ctx, level, msg)
		return
	}
	s.limit.Log(level, msg)
}

func (s *slogLogger) Noticef(format string, v ...any) { s.log(slog.LevelInfo, format, v) }
func (s *slogLogger) Warnf(format string, v ...any) {
	if format == plaintextWarning && s.plainIsObserver {
		return // about a password nobody knows: not even debug news
	}
	if strings.HasSuffix(format, readLoopSlow) && s.refused(format) {
		s.log(slog.LevelDebug, format, v)
		return
	}
	s.log(slog.LevelWarn, format, v)
}

func (s *slogLogger) Errorf(format string, v ...any) {
	switch {
	case peerWentAway(format, v): // peerclose.go
		s.log(slog.LevelInfo, format+" (the route peer is gone)", v)
	case s.refused(format) && strings.Contains(fmt.Sprintf(format, v...), authError):
		s.log(slog.LevelDebug, format, v)
	case s.reloading != nil && strings.Contains(format, clientConnMarker) && s.reloading() &&
		(strings.Contains(format, registerProblem) || strings.Contains(fmt.Sprintf(format, v...), authError)):
		s.log(slog.LevelDebug, format+" (a client closing while the server reloaded its options)", v)
	case closedWhileRegistering(format, v):
		// The server closed the client while it logged in: a reload that
		// moved its account ($SYS), or its auth timer on a starved
		// machine. The reload's window above does not cover a read loop
		// that reports it after the reload ended, and whoever closed the
		// connection has had its say: nobody's fault to report.
		s.log(slog.LevelInfo, format+" (the server closed the connection while it logged in: a reload of its options, or a busy machine)", v)
	case strings.HasSuffix(format, routeError) && len(v) == 1 && v[0] == authExpired:
		// Only the chaos gate expires a route (gatecheck.go closeRoutes).
		s.log(slog.LevelInfo, format+": the peer closed this route (herd chaos cut it)", v)
	case routeHandshakeDropped(format, v) && s.cutting != nil && s.cutting():
		// A cut or heal reloads the routes of both ends: a dial in its TLS
		// handshake at that moment is dropped by its dialler.
		s.log(slog.LevelInfo, format+" (the dialler dropped it: herd chaos cuts are in place, or were a moment ago)", v)
	case (strings.HasSuffix(format, routeError) || strings.HasSuffix(format, gatewayError)) && len(v) == 1 && v[0] == authTimeout:
		// The peer's auth timer (2 s from its accept, 3 s with TLS) ran out
		// before this node's CONNECT was read there: a starved machine (seen
		// while nine nodes started at once under the race detector) or a
		// slow link. nats-server dials again; a route or gateway that never
		// forms shows in /healthz (unreachable peers and regions).
		s.log(slog.LevelWarn, format+": the peer did not get this node's CONNECT within its auth timeout (a busy machine or a slow link); nats-server dials again", v)
	case loopbackDialTimeout(format, v):
		// On loopback no network drops a dial: it timed out because this
		// machine, or the peer's accept queue, was too busy (seen as a
		// herd started under a loaded test run). nats-server dials again;
		// a dial timeout to another host (down, or a firewall dropping
		// the port) stays an error.
		s.log(slog.LevelWarn, format+" (a dial on loopback: a busy machine; nats-server dials again)", v)
	case strings.HasSuffix(format, routeError) && len(v) == 1 && v[0] == authViolation:
		// The dialling side learns nothing but this from a refusal.
		level, why := s.peerRefusal()
		s.log(level, format+": the peer refused this node's route"+why, v)
	default:
		s.log(slog.LevelError, format, v)
	}
}

// peerRefusal gives the level of a peer's refusal of this node's route,
// and what to say of it. Without chaos only a misconfiguration refuses
// routes: an error. With chaos on, a peer may cut this node before this
// node hears of the cut (herd chaos tells the two ends one after the
// other), or alone (a cut sent to one end): a warning, since a refusal for
// a bad password or certificate is logged at error level by the refusing
// peer; and while this node cuts too, news of no fault at all.
func (s *slogLogger) peerRefusal() (slog.Level, string) {
	const peerSays = "the peer's log says why (route password, certificate, or this node not in its herd file)"
	switch {
	case s.cutting == nil:
		return slog.LevelError, "; " + peerSays
	case s.cutting():
		return slog.LevelInfo, " (herd chaos cuts are in place, or were a moment ago)"
	default:
		return slog.LevelWarn, "; a herd chaos cut at the peer, or " + peerSays
	}
}

func (s *slogLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s *slogLogger) Tracef(format string, v ...any) { s.log(LevelTrace, format, v) }

// nats-server's lines about a route, as their formats end or their text
// contains them; for a connection the format starts with its description,
// for a route "<addr> - rid:<id> - ".
const (
	readLoopSlow  = "Readloop processing time: %v"
	authError     = "authentication error"
	routeError    = "Route Error %s"
	gatewayError  = "Gateway Error %s"
	authTimeout   = "'Authentication Timeout'"
	authViolation = "'Authorization Violation'"
	authExpired   = "'User Authentication Expired'"
	// registerProblem starts nats-server's line for a client whose
	// account registration failed; clientConnMarker marks a client
	// connection's description.
	registerProblem  = "Problem registering with account"
	clientConnMarker = " - cid:"
	// tlsHandshakeError ends nats-server's line for a failed TLS
	// handshake of a route or gateway: its kind, the error, detail.
	tlsHandshakeError = "TLS %s handshake error: %v%s"
	// plaintextWarning is nats-server's warning, at start, that a user
	// has a plain-text password.
	plaintextWarning = "Plaintext passwords detected, use nkeys or bcrypt"
)

// closedWhileRegistering reports whether an Errorf call says a client's
// account registration failed because the connection had closed meanwhile
// (client.go reportErrRegisterAccount with ErrConnectionClosed).
func closedWhileRegistering(format string, v []any) bool {
	if !strings.Contains(format, clientConnMarker) || !strings.Contains(format, registerProblem) || len(v) != 2 {
		return false
	}
	err, ok := v[1].(error)
	return ok && errors.Is(err, server.ErrConnectionClosed)
}

// routeHandshakeDropped reports whether an Errorf call says a route's TLS
// handshake ended because the other end closed the connection (EOF or a
// reset), not because of a certificate or a protocol fault.
func routeHandshakeDropped(format string, v []any) bool {
	if !strings.HasSuffix(format, tlsHandshakeError) || len(v) != 3 || v[0] != "route" {
		return false
	}
	err, ok := v[1].(error)
	return ok && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET))
}

// refused reports whether format is about a route connection that this
// server's routeCheck refused.
func (s *slogLogger) refused(format string) bool {
	if s.refusedRoute == nil {
		return false
	}
	rid, ok := routeID(format)
	return ok && s.refusedRoute(rid)
}

// routeID finds the route connection id in a format nats-server prefixed
// with the connection's description.
func routeID(format string) (uint64, bool) {
	_, rest, ok := strings.Cut(format, " - rid:")
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(rest[:end], 10, 64)
	return id, err == nil
}

// redactURLs replaces every URL among v by its redacted form: nats-server
// logs a route it drops on reload ("Removed route %v") with the
// credentials the route presents.
func redactURLs(v []any) []any {
	cloned := false
	for i, a := range v {
		if u, ok := a.(*url.URL); ok && u != nil {
			if !cloned {
				v, cloned = slices.Clone(v), true
			}
			v[i] = u.Redacted()
		}
	}
	return v
}

// Fatalf logs at error level and reports the failure; it never exits.
func (s *slogLogger) Fatalf(format string, v ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, slog.Bool("fatal", true))
	if s.onFatal != nil {
		s.onFatal(msg)
	}
}
