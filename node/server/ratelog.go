package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// limitEvery is the least time between two log lines of one kind that
// clients can cause (a limit hit): ten thousand idle connections timing out
// together must not write ten thousand lines.
const limitEvery = time.Second

// rateLog writes at most one line per message per limitEvery and tells, on
// the next line it lets through, how many it held back.
type rateLog struct {
	log *slog.Logger

	mu    sync.Mutex // guards kinds
	kinds map[string]*rateKind
}

type rateKind struct {
	last       time.Time
	suppressed int
}

func newRateLog(log *slog.Logger) *rateLog {
	return &rateLog{log: log, kinds: make(map[string]*rateKind)}
}

// Log logs msg at level unless a line with the same msg was logged less
// than limitEvery ago.
func (l *rateLog) Log(level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	k := l.kinds[msg]
	if k == nil {
		k = &rateKind{}
		l.kinds[msg] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < limitEvery {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
