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

	mu     sync.Mutex // guards q, unwritten and closed
	q      []*reply
	closed bool
	// unwritten counts replies pushed and not yet on the socket: queued,
	// being written, or in the write loop's buffer until its flush
	// (written). Zero means the write side is idle.
	unwritten int
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
			q.unwritten++
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

// len is the number of queued replies.
func (q *replyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// written tells the queue that n popped replies reached the socket (or
// were given up).
func (q *replyQueue) written(n int) {
	q.mu.Lock()
	q.unwritten -= n
	q.mu.Unlock()
}

// idle reports whether every pushed reply is on the socket, so that the
// one producer may write to it itself without overtaking a reply.
func (q *replyQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.unwritten == 0
}

// close ends pop once the queue is drained.
func (q *replyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	wake(q.notEmpty)
}
