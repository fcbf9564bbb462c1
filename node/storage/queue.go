package storage

import (
	"context"

	"github.com/herdhq/herd/bus/record"
)

// commit is the outcome of one batch of records with FsyncAlways: done is
// closed once the batch is fsynced (err nil) or given up (err wraps
// ErrNotPersisted). Batches are decided in Append order.
type commit struct {
	done chan struct{}
	err  error // set before done is closed
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

func (c *commit) decide(err error) {
	c.err = err
	close(c.done)
}

// decidedCommit returns a commit that is already decided with err.
func decidedCommit(err error) *commit {
	c := newCommit()
	c.decide(err)
	return c
}

// Ticket is what Append returns: Wait on it before acknowledging the
// record. The zero Ticket waits for nothing.
type Ticket struct{ c *commit }

// Wait returns once the record is as durable as the fsync mode promises
// before a reply. With FsyncAlways that is when its batch is fsynced;
// with FsyncEverySec and FsyncNo it returns at once (the record is
// written within moments, fsynced within a second or by the OS).
//
// It returns nil when the promise holds, an error wrapping
// ErrNotPersisted when storage gave the record up (disk fault, queue full,
// closed: the node keeps it in memory, Health is degraded, and a snapshot
// writes it once the disk recovers), or ctx's error. It never waits on a
// failed disk: a fault releases every waiter at once. Batches are decided
// in Append order, so waiting for the last Ticket of several covers the
// earlier ones.
func (t Ticket) Wait(ctx context.Context) error {
	if t.c == nil {
		return nil
	}
	select {
	case <-t.c.done:
		return t.c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether Wait would return at once: the zero Ticket (a
// mode that promises nothing more before a reply), or a decided batch. A
// door that has nothing else to do can reply at once when it is ready, and
// wait elsewhere when it is not.
func (t Ticket) Ready() bool {
	if t.c == nil {
		return true
	}
	select {
	case <-t.c.done:
		return true
	default:
		return false
	}
}

// Append queues r for the log and returns at once: it never waits on the
// disk and never fails. r must be the record the store kept (not a view of
// a reused buffer). When the queue is full, or storage is closed, the
// record is not persisted: it is counted, and Health is degraded until a
// snapshot covers it. Append costs no allocation.
//
// Append every record the store accepted (own IAMATs, flood, repair), in
// any order: replay keeps the newest record of each client.
func (s *Storage) Append(r record.Record) Ticket {
	s.qmu.Lock()
	if s.qClosed {
		s.qmu.Unlock()
		s.notPersisted.Add(1)
		s.cfg.Observe.NotPersisted(1, DropClosed)
		return Ticket{c: s.closedCommit}
	}
	if len(s.recs) >= s.cfg.QueueLen {
		s.qDropped++
		s.qmu.Unlock()
		return Ticket{c: s.fullCommit}
	}
	wake := len(s.recs) == 0
	s.recs = append(s.recs, r)
	c := s.pending
	s.qmu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return Ticket{c: c}
}

// swap hands the queued records to the writer in exchange for its empty
// buffer, with the commit that decides them (nil unless FsyncAlways; next
// becomes the pending commit when it is taken), the count of records the
// queue dropped since the last swap, and whether Close was called.
func (s *Storage) swap(empty []record.Record, next *commit) (batch []record.Record, c *commit, used bool, dropped int, closed bool) {
	s.qmu.Lock()
	batch, s.recs = s.recs, empty[:0]
	c = s.pending
	if len(batch) > 0 && c != nil {
		s.pending, used = next, true
	}
	dropped, s.qDropped = s.qDropped, 0
	closed = s.qClosed
	s.qmu.Unlock()
	return batch, c, used, dropped, closed
}
