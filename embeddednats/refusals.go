package embeddednats

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// A refused route is redialled by its server (once a second for a
// configured route, within 100ms for a gossip-learned one), and every
// server that learned the address by gossip dials it too. The accepting
// server therefore holds each refusal before answering it, longer the more
// often the same node was refused in a row: the first is answered at once,
// the second after refusalHoldMin, then twice as long each time up to
// refusalHoldMax. The dialler cannot redial before the answer, so each
// node's attempts back off exponentially, and a node whose configuration
// is fixed is let in at its next attempt (a success forgets the count).
const (
	refusalHoldMin = time.Second
	refusalHoldMax = 30 * time.Second
	// refusalForget: a node not refused for this long starts afresh.
	refusalForget = 2 * refusalHoldMax
	// refusalLogBurst refusals of one node for one cause are logged each;
	// then one line per repeatEvery says how many more there were.
	refusalLogBurst = 3
	// maxHeldRefusals bounds the refusals held at once; more are answered
	// at once (a herd's refused nodes need a few).
	maxHeldRefusals = 256
)

// refusals counts the refusals of each node (or address, when the dialler
// names no node), decides how long each is held, and logs them bounded.
type refusals struct {
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex // guards nodes
	nodes map[string]*refusalState
}

type refusalState struct {
	count      int       // refusals in a row
	last       time.Time // of the last refusal
	cause      string    // of the last refusal
	logged     int       // lines logged for cause
	nextLog    time.Time // after the burst, when the next line may be logged
	suppressed int       // refusals not logged since the last line
}

func newRefusals(now func() time.Time, log *slog.Logger) *refusals {
	return &refusals{now: now, log: log, nodes: make(map[string]*refusalState)}
}

// refused records a refusal of key, logs it if the log bound allows, and
// returns how long to hold it before answering.
func (r *refusals) refused(key string, why *refusal) time.Duration {
	r.mu.Lock()
	now := r.now()
	st := r.nodes[key]
	if st == nil || now.Sub(st.last) > refusalForget {
		if len(r.nodes) >= maxRepeats {
			clear(r.nodes)
		}
		st = &refusalState{}
		r.nodes[key] = st
	}
	if why.cause != st.cause {
		// Something changed at the dialler (a restart with another
		// mistake): answer and log it at once, as news.
		st.cause, st.count, st.logged, st.suppressed = why.cause, 0, 0, 0
	}
	st.count++
	st.last = now
	var suppressed int
	logIt := false
	switch {
	case st.logged < refusalLogBurst:
		logIt = true
	case !now.Before(st.nextLog):
		logIt, suppressed = true, st.suppressed
	default:
		st.suppressed++
	}
	if logIt {
		st.logged++
		st.suppressed = 0
		st.nextLog = now.Add(repeatEvery)
	}
	hold := time.Duration(0)
	if st.count > 1 {
		hold = refusalHoldMax
		if shift := st.count - 2; shift < 8 {
			hold = min(refusalHoldMin<<shift, refusalHoldMax)
		}
	}
	count := st.count
	r.mu.Unlock()

	if logIt {
		attrs := []slog.Attr{slog.Int("refusals_in_a_row", count)}
		if suppressed > 0 {
			attrs = append(attrs, slog.Int("not_logged_since_last_line", suppressed))
		}
		if hold > 0 {
			attrs = append(attrs, slog.Duration("answered_after", hold))
		}
		r.log.LogAttrs(context.Background(), slog.LevelError, why.msg, attrs...)
	}
	return hold
}

// accepted forgets the refusals of node; if it had any, it says the node
// is in now.
func (r *refusals) accepted(node string) {
	if node == "" {
		return
	}
	r.mu.Lock()
	st := r.nodes[node]
	delete(r.nodes, node)
	r.mu.Unlock()
	if st != nil {
		r.log.Info("route accepted after refusals", "node", node, "refusals", st.count)
	}
}

// forget drops the count of node without a word (it was just added).
func (r *refusals) forget(node string) {
	r.mu.Lock()
	delete(r.nodes, node)
	r.mu.Unlock()
}
