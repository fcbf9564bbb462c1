package storage

import "time"

// Observer is told of everything storage does, for metrics. Methods are
// called from storage's goroutines (from Append only after Close, to count
// the record as not persisted), must be quick, and safe for concurrent
// use.
type Observer interface {
	// Replayed reports what Start loaded.
	Replayed(r Replay)
	// Wrote reports one write of a batch to the log.
	Wrote(records, bytes int)
	// Synced reports one fsync of the log: its latency and how many
	// records it made durable (the group-commit batch with FsyncAlways).
	Synced(d time.Duration, records int)
	// Snapshotted reports one snapshot attempt, done or failed.
	Snapshotted(s SnapshotStats)
	// NotPersisted counts records that did not reach the disk.
	NotPersisted(n int, reason DropReason)
	// HealthChanged reports a change between ok and degraded.
	HealthChanged(h Health)
	// DiskUsage reports the bytes of the node's log segments and current
	// snapshot after they change.
	DiskUsage(logBytes, snapshotBytes int64)
}

// NopObserver ignores everything; the default Config.Observe.
type NopObserver struct{}

func (NopObserver) Replayed(Replay)                {}
func (NopObserver) Wrote(int, int)                 {}
func (NopObserver) Synced(time.Duration, int)      {}
func (NopObserver) Snapshotted(SnapshotStats)      {}
func (NopObserver) NotPersisted(int, DropReason)   {}
func (NopObserver) HealthChanged(Health)           {}
func (NopObserver) DiskUsage(logBytes, snap int64) {}

var _ Observer = NopObserver{}

// DropReason says why records were not persisted (a metric label).
type DropReason string

// Reasons records are not persisted.
const (
	DropQueueFull DropReason = "queue_full" // Append found the queue full
	DropDiskError DropReason = "disk_error" // a write or fsync failed, or no segment is writable
	DropTooLarge  DropReason = "too_large"  // the line exceeds MaxRecordBytes
	DropClosed    DropReason = "closed"     // Append after Close
)

// Replay is what Start loaded.
type Replay struct {
	Records      int           // records handed to Store.Put
	FromSnapshot int           // of which from the snapshot
	FromLog      int           // of which from log segments
	Segments     int           // log segments read
	TornTails    int           // torn tails cut (each logged with file and offset)
	Duration     time.Duration // time to read and Put them
	// SnapshotTime is the loaded snapshot's modification time; zero when
	// there was none.
	SnapshotTime time.Time
}

// SnapshotStats describe one snapshot attempt.
type SnapshotStats struct {
	Time     time.Time // when it finished
	Duration time.Duration
	Records  int
	Bytes    int64
	Err      error // nil when the snapshot is in place
}

// Health tells whether every record storage was given is on disk.
type Health struct {
	// Degraded is true while some accepted record is only in memory, or
	// the log cannot be written.
	Degraded bool
	// Reason says why, when Degraded (the last error met).
	Reason string
	// Since is when the current state began.
	Since time.Time
	// NotPersisted counts records not written since Start (all reasons).
	NotPersisted uint64
}
