package storage

import (
	"sync"
	"time"
)

// dropLogEvery is the least time between two log lines counting records
// not persisted: the transition to degraded is logged at once, these are
// reminders with counts while it lasts.
const dropLogEvery = 5 * time.Second

// health tracks whether everything accepted is on disk. Storage is
// degraded while the writer has no writable segment (diskErr), or while
// some record was dropped and no snapshot begun after the drop has
// completed: a snapshot taken from the store after the drop holds the
// record (the caller Puts before it Appends), so it repairs the gap.
type health struct {
	mu       sync.Mutex // guards the fields below
	diskErr  error      // why the writer has no segment; nil when it has one
	dropped  bool       // a gap not yet covered by a snapshot
	dropSeq  uint64     // the newest segment seq at a drop; a snapshot at a greater seq covers it
	reason   string     // the latest reason for being degraded
	degraded bool
	since    time.Time
	lost     uint64 // records not persisted in this degraded episode
}

// Health tells whether every record storage was given is on disk.
func (s *Storage) Health() Health {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	out := Health{Degraded: h.degraded, Since: h.since, NotPersisted: s.notPersisted.Load()}
	if h.degraded {
		out.Reason = h.reason
	}
	return out
}

// diskFault records that the writer lost its segment because of err.
func (s *Storage) diskFault(err error) {
	h := &s.health
	h.mu.Lock()
	h.diskErr = err
	h.reason = err.Error()
	s.updateHealth()
	h.mu.Unlock()
}

// diskOK records that the writer has a writable segment again.
func (s *Storage) diskOK() {
	h := &s.health
	h.mu.Lock()
	h.diskErr = nil
	s.updateHealth()
	h.mu.Unlock()
}

// gap records n records not persisted while segment seq was the newest.
func (s *Storage) gap(seq uint64, n int, reason string) {
	h := &s.health
	h.mu.Lock()
	h.dropped = true
	h.dropSeq = max(h.dropSeq, seq)
	if h.diskErr == nil { // else the disk error says more
		h.reason = reason
	}
	h.lost += uint64(n)
	s.updateHealth()
	h.mu.Unlock()
}

// covered records a completed snapshot begun at segment seq.
func (s *Storage) covered(seq uint64) {
	h := &s.health
	h.mu.Lock()
	if h.dropped && h.dropSeq < seq {
		h.dropped = false
	}
	s.updateHealth()
	h.mu.Unlock()
}

// repairFailed records why a snapshot failed: while degraded, that is
// why storage is still degraded.
func (s *Storage) repairFailed(err error) {
	h := &s.health
	h.mu.Lock()
	if h.degraded {
		h.reason = err.Error()
	}
	h.mu.Unlock()
}

// needsRepair reports whether a snapshot is wanted to end a degraded state.
func (s *Storage) needsRepair() bool {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.degraded
}

// updateHealth logs and reports a change of state. h.mu is held.
func (s *Storage) updateHealth() {
	h := &s.health
	degraded := h.diskErr != nil || h.dropped
	if degraded == h.degraded {
		return
	}
	now := s.cfg.Now()
	log := s.cfg.Logger
	if degraded {
		log.Warn("storage degraded: new records are kept in memory only until the disk recovers",
			"dir", s.cfg.Dir, "reason", h.reason)
	} else {
		log.Info("storage persisting again: a snapshot holds the records missed",
			"dir", s.cfg.Dir, "degraded_for", now.Sub(h.since).Round(time.Millisecond), "records_missed", h.lost)
		h.lost = 0
	}
	h.degraded, h.since = degraded, now
	out := Health{Degraded: degraded, Since: now, NotPersisted: s.notPersisted.Load()}
	if degraded {
		out.Reason = h.reason
	}
	s.cfg.Observe.HealthChanged(out)
}
