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

// A refused route is redialled about twice a second for as long as the
// misconfiguration lasts, each attempt logging the same lines with only
// numbers changed (ports, connection ids). Lines that repeat that way are
// logged repeatBurst times, then once per repeatEvery with the count of
// those left out.
const (
	repeatBurst = 5
	repeatEvery = 30 * time.Second
	maxRepeats  = 1024 // distinct lines remembered; then forget them all
)

// repeatLimiter thins out lines that differ only in their digits.
type repeatLimiter struct {
	now func() time.Time

	mu   sync.Mutex // guards seen
	seen map[string]*repeat
}

type repeat struct {
	n          int       // times seen
	next       time.Time // when the next one may be logged, after the burst
	suppressed int       // left out since the last one logged
}

func newRepeatLimiter(now func() time.Time) *repeatLimiter {
	return &repeatLimiter{now: now, seen: make(map[string]*repeat)}
}

// allow reports whether msg may be logged now and, if so, how many lines
// like it were left out since the last one.
func (l *repeatLimiter) allow(msg string) (ok bool, suppressed int) {
	key := shape(msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.seen[key]
	if r == nil {
		if len(l.seen) >= maxRepeats {
			clear(l.seen)
		}
		r = &repeat{}
		l.seen[key] = r
	}
	r.n++
	now := l.now()
	switch {
	case r.n <= repeatBurst:
		r.next = now.Add(repeatEvery)
		return true, 0
	case now.Before(r.next):
		r.suppressed++
		return false, 0
	}
	r.next = now.Add(repeatEvery)
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}

// shape is msg with every run of digits replaced by one '#'.
func shape(msg string) string {
	b := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c >= '0' && c <= '9' {
			if len(b) == 0 || b[len(b)-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, msg[i])
	}
	return string(b)
}
