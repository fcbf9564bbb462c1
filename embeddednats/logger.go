package embeddednats

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	if level < slog.LevelInfo {
		s.l.Log(ctx, level, msg)
		return
	}
	s.limit.Log(level, msg)
}

func (s *slogLogger) Noticef(format string, v ...any) { s.log(slog.LevelInfo, format, v) }
func (s *slogLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s *slogLogger) Errorf(format string, v ...any) {
	if peerWentAway(format, v) { // peerclose.go
		s.log(slog.LevelInfo, format+" (the route peer is gone)", v)
		return
	}
	s.log(slog.LevelError, format, v)
}
func (s *slogLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s *slogLogger) Tracef(format string, v ...any) { s.log(LevelTrace, format, v) }

// Fatalf logs at error level and reports the failure; it never exits.
func (s *slogLogger) Fatalf(format string, v ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, slog.Bool("fatal", true))
	if s.onFatal != nil {
		s.onFatal(msg)
	}
}
