package server

import (
	"context"
	"sync"
)

// replyQueue holds a connection's replies in command order between the
// read loop (one producer) and the write loop (one consumer), at most max
// of them. Unlike a buffered channel of capacity max, it costs nothing
// until replies are queued, so an idle connection stays small.
type replyQueue struct {
	max      int
	notEmpty chan struct{} // a wake-up for pop, capacity 1
	notFull  chan struct{} // a wake-up for push, capacity 1

	mu     sync.Mutex // guards q, closed and busy
	q      []*reply
	closed bool
	// busy: one of the two loops owns the connection's write side. The
	// write loop takes it with every reply it pops and gives it back once
	// it flushed with nothing left queued (idle); the read loop takes it
	// (claim) to write a batch itself when nothing is queued or being
	// written, and gives it back (release, handOff). So replies leave in
	// command order whoever writes them.
	busy bool
}

func newReplyQueue(max int) *replyQueue {
	return &replyQueue{max: max, notEmpty: make(chan struct{}, 1), notFull: make(chan struct{}, 1)}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push appends r, waiting while the queue is full, until ctx ends. It
// reports whether r was queued; full reports whether it had to wait.
func (q *replyQueue) push(ctx context.Context, r *reply) (ok, full bool) {
	for {
		q.mu.Lock()
		if len(q.q) < q.max {
			q.q = append(q.q, r)
			q.mu.Unlock()
			wake(q.notEmpty)
			return true, full
		}
		q.mu.Unlock()
		full = true
		select {
		case <-q.notFull:
		case <-ctx.Done():
			return false, full
		}
	}
}

// pop removes the oldest reply, waiting for one; ok is false once the queue
// is closed and empty.
func (q *replyQueue) pop() (r *reply, ok bool) {
	for {
		q.mu.Lock()
		if len(q.q) > 0 {
			r = q.q[0]
			q.q[0] = nil
			q.q = q.q[1:]
			if len(q.q) == 0 {
				q.q = nil // let the backing array go while idle
			}
			q.busy = true
			q.mu.Unlock()
			wake(q.notFull)
			return r, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		<-q.notEmpty
	}
}

// idle gives the write side back after the write loop flushed, unless
// replies were queued meanwhile (the write loop goes on with them). It
// reports whether it did.
func (q *replyQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) > 0 {
		return false
	}
	q.busy = false
	return true
}

// claim takes the write side for the read loop if nothing is queued or
// being written.
func (q *replyQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) > 0 || q.busy || q.closed {
		return false
	}
	q.busy = true
	return true
}

// release gives back the write side claim took.
func (q *replyQueue) release() {
	q.mu.Lock()
	q.busy = false
	q.mu.Unlock()
}

// handOff gives back the write side claim took, with r, the rest of what
// the read loop could not write at once, as the first reply for the
// write loop. It never waits: the queue was empty.
func (q *replyQueue) handOff(r *reply) {
	q.mu.Lock()
	q.q = append(q.q, r)
	q.busy = false
	q.mu.Unlock()
	wake(q.notEmpty)
}

// len is the number of queued replies.
func (q *replyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// close ends pop once the queue is drained.
func (q *replyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	wake(q.notEmpty)
}
