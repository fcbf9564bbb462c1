package bus

import (
	"sync"
	"time"
)

// warnEvery is the least time between two warnings of one kind that a
// peer's messages can cause, so that a misbehaving peer cannot flood the
// log.
const warnEvery = time.Second

// rateLog lets one log line through per warnEvery and counts the rest.
type rateLog struct {
	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines it held back since
// the last one it let through.
func (l *rateLog) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < warnEvery {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// syncWarn logs a warning caused by a peer's sync messages, rate-limited.
func (b *Bus) syncWarn(msg string, args ...any) {
	ok, n := b.warnLog.allow(time.Now())
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	b.cfg.Logger.Warn(msg, args...)
}
