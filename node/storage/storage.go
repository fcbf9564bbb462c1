// Package storage keeps a node's records on disk, so that they survive a
// restart of the whole herd: an append-only log of every record the store
// accepted, with a checksum per entry, and snapshots of the store that
// replace the log behind them (as Redis's AOF with appendfsync, Tile38's
// AOF shrink, etcd's WAL with snapshots).
//
// Start replays the newest snapshot and the log after it into the store
// (the newest record of each client wins, by the store's Put); Append
// queues each accepted record and never blocks on the disk; one writer
// goroutine writes batches and fsyncs them by the Fsync mode, with group
// commit for FsyncAlways (Ticket.Wait holds a reply until its batch is on
// disk). When the log outgrows the last snapshot, a new snapshot of the
// store is written beside it and the segments it replaces are deleted, so
// the files stay within about twice the live records.
//
// A crash mid-write leaves a torn tail, which Start cuts and logs; damage
// with valid entries after it stops Start with a *CorruptError naming file
// and offset, and Salvage repairs it. Disk faults (full, read-only,
// permission denied) never fail Append: the node keeps serving from
// memory, Health says degraded, and once the disk recovers a snapshot
// writes everything that was missed.
package storage

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Storage is one node's persistence. The zero value is not usable; call
// New.
type Storage struct {
	cfg Config

	// The queue between Append and the writer.
	qmu      sync.Mutex // guards recs, pending, qDropped, qClosed
	recs     []record.Record
	pending  *commit // decides the records in recs (FsyncAlways); nil otherwise
	qDropped int     // records Append dropped (queue full) since the last swap
	qClosed  bool
	wake     chan struct{} // cap 1: the queue went from empty to not

	fullCommit, closedCommit *commit // decided: what dropped records' Tickets hold

	mu      sync.Mutex // guards started, closed, replay
	started bool
	closed  bool
	replay  Replay

	lock        *os.File // the directory's flock, held from Start to Close
	w           *writer
	ctx         context.Context // canceled by Close: stops the snapshot loop
	cancel      context.CancelFunc
	rotate      chan chan rotation // snapshot loop → writer
	snapTrigger chan struct{}      // cap 1
	writerDone  sync.WaitGroup
	snapDone    sync.WaitGroup
	snapRecords int // records in the last snapshot (a capacity hint); snapshot loop, then Close

	health       health
	notPersisted atomic.Uint64
	logBytes     atomic.Int64 // bytes of the live log segments
	snapBytes    atomic.Int64 // bytes of the current snapshot
}

// New checks cfg and returns a Storage; it does no I/O.
func New(cfg Config) (*Storage, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Storage{
		cfg:          cfg,
		wake:         make(chan struct{}, 1),
		rotate:       make(chan chan rotation),
		snapTrigger:  make(chan struct{}, 1),
		fullCommit:   decidedCommit(fmt.Errorf("%w: write queue full", ErrNotPersisted)),
		closedCommit: decidedCommit(fmt.Errorf("%w: %w", ErrNotPersisted, ErrClosed)),
	}
	if cfg.Fsync == FsyncAlways {
		s.pending = newCommit()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start takes the directory's lock (creating the directory), replays the
// snapshot and log into Config.Store, opens a new log segment and starts
// writing. It returns an error wrapping ErrLocked when another process
// has the directory, and a *CorruptError (ErrCorrupt,
// ErrTruncatedSnapshot) for damage it must not guess about; ctx bounds the
// replay. If the disk cannot be written it starts degraded (see Health)
// and keeps trying.
func (s *Storage) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	lock, err := lockDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	start := time.Now()
	l := newLoader(ctx, s)
	next, err := l.load()
	l.close()
	if err != nil {
		lock.Close()
		return fmt.Errorf("load %s: %w", s.cfg.Dir, err)
	}
	l.replay.Duration = time.Since(start)
	s.replay = l.replay
	s.cfg.Observe.Replayed(s.replay)
	s.cfg.Logger.Info("storage loaded", "dir", s.cfg.Dir, "records", s.replay.Records,
		"from_snapshot", s.replay.FromSnapshot, "from_log", s.replay.FromLog,
		"segments", s.replay.Segments, "torn_tails", s.replay.TornTails,
		"took", s.replay.Duration.Round(time.Millisecond))

	s.lock = lock
	s.health.mu.Lock()
	s.health.since = s.cfg.Now()
	s.health.mu.Unlock()
	s.w = &writer{s: s, nextSeq: next, seq: max(next, 1) - 1}
	if _, err := s.w.rotate(); err != nil {
		s.cfg.Logger.Warn("storage starts degraded: cannot create a log segment", "dir", s.cfg.Dir, "err", err)
	}
	s.cfg.Observe.DiskUsage(s.logBytes.Load(), s.snapBytes.Load())
	s.started = true
	s.writerDone.Add(1)
	go s.w.run()
	s.snapDone.Add(1)
	go s.snapshotLoop()
	if s.wantSnapshot() {
		s.trigger()
	}
	return nil
}

// Replayed returns what Start loaded.
func (s *Storage) Replayed() Replay {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replay
}

// Close stops the snapshot loop, writes and fsyncs every record queued
// before it, seals the segment, writes a snapshot if SnapshotOnClose, and
// releases the directory. Every Ticket is decided when it returns. Close
// is idempotent; Appends after it are counted as not persisted.
func (s *Storage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()

	s.cancel()
	s.snapDone.Wait()
	s.qmu.Lock()
	s.qClosed = true
	s.qmu.Unlock()
	if !started {
		// Release Tickets of Appends before Start; nothing was written.
		if _, c, _, _, _ := s.swap(nil, nil); c != nil {
			c.decide(fmt.Errorf("%w: %w", ErrNotPersisted, ErrClosed))
		}
		return nil
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.writerDone.Wait()
	err := s.w.closeErr
	if s.cfg.SnapshotOnClose {
		// The writer is done: snapshot at a seq after every segment, so the
		// next Start reads this snapshot alone.
		serr := s.checkRoom()
		if serr == nil {
			serr = s.writeSnapshot(context.Background(), s.w.nextSeq, time.Now())
		}
		if serr != nil && err == nil {
			err = serr
		}
	}
	if cerr := s.lock.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("release lock: %w", cerr)
	}
	return err
}
