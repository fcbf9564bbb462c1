package embeddednats

import (
	"sync"
	"time"
)

// nats-server logs one error line per refused client action (a forbidden
// publish or subscribe, a failed login, a refused route), so anyone who
// can reach the client port could otherwise write to the herd's log as
// fast as the network allows. Lines at info level and above therefore
// pass through a token bucket; what it drops is counted and reported with
// the next line let through. Debug and trace lines, asked for explicitly,
// are not limited.
const (
	logBurst = 200 // lines at once: a start banner and a herd's route churn fit
	logRate  = 20  // lines per second, sustained
)

// lineLimiter is a token bucket of log lines.
type lineLimiter struct {
	now func() time.Time

	mu      sync.Mutex // guards the fields below
	tokens  float64
	last    time.Time
	dropped int
}

func newLineLimiter(now func() time.Time) *lineLimiter {
	return &lineLimiter{now: now, tokens: logBurst, last: now()}
}

// allow reports whether a line may be logged now and, if so, how many
// were dropped since the last allowed one.
func (l *lineLimiter) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(logBurst, l.tokens+now.Sub(l.last).Seconds()*logRate)
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}
