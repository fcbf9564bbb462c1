package embeddednats

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// LevelTrace is the slog level of nats-server protocol traces (Tracef).
const LevelTrace = slog.LevelDebug - 4

// slogLogger bridges nats-server's Logger interface to log/slog. nats-server's
// own logger exits the process on Fatalf; this one logs at error level and
// calls onFatal, leaving the decision to the owning Server.
type slogLogger struct {
	l       *slog.Logger
	onFatal func(msg string)
	limit   *lineLimiter   // info and above
	repeats *repeatLimiter // info and above
	// heldRoute, if set, reports whether the route connection with this
	// id had its refusal held on purpose (routeCheck): nats-server then
	// warns that its read loop was slow, which is no news.
	heldRoute func(rid uint64) bool
}

var _ server.Logger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger, onFatal func(string)) *slogLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &slogLogger{l: l, onFatal: onFatal, limit: newLineLimiter(time.Now), repeats: newRepeatLimiter(time.Now)}
}

func (s *slogLogger) log(level slog.Level, format string, v []any) string {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return ""
	}
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	if level < slog.LevelInfo {
		s.l.Log(ctx, level, msg)
		return msg
	}
	ok, repeated := s.repeats.allow(msg)
	if !ok {
		return ""
	}
	ok, dropped := s.limit.allow()
	if !ok {
		return ""
	}
	if dropped > 0 {
		s.l.LogAttrs(ctx, slog.LevelWarn, "nats-server log lines dropped by the rate limit", slog.Int("dropped", dropped))
	}
	if repeated > 0 {
		s.l.Log(ctx, level, msg, slog.Int("similar_lines_left_out", repeated))
	} else {
		s.l.Log(ctx, level, msg)
	}
	return msg
}

func (s *slogLogger) Noticef(format string, v ...any) { s.log(slog.LevelInfo, format, v) }
func (s *slogLogger) Warnf(format string, v ...any) {
	if s.heldRoute != nil && strings.HasSuffix(format, readLoopSlow) {
		if rid, ok := routeID(format); ok && s.heldRoute(rid) {
			s.log(slog.LevelDebug, format, v)
			return
		}
	}
	s.log(slog.LevelWarn, format, v)
}

func (s *slogLogger) Errorf(format string, v ...any) { s.log(slog.LevelError, format, v) }
func (s *slogLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s *slogLogger) Tracef(format string, v ...any) { s.log(LevelTrace, format, v) }

// readLoopSlow ends nats-server's warning about a slow read loop; for a
// connection its format starts with the connection's description, for a
// route "<addr> - rid:<id> - ".
const readLoopSlow = "Readloop processing time: %v"

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

// Fatalf logs at error level and reports the failure; it never exits.
func (s *slogLogger) Fatalf(format string, v ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, slog.Bool("fatal", true))
	if s.onFatal != nil {
		s.onFatal(msg)
	}
}
