package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/herdhq/herd/bus/record"
)

// Errors of the package, in one block.
var (
	// ErrInvalidConfig: Validate found a bad field; the message names it.
	ErrInvalidConfig = errors.New("invalid storage config")
	// ErrBadFsync: a fsync mode other than always, everysec or no.
	ErrBadFsync = errors.New("bad fsync mode")
	// ErrCorrupt: a file holds damaged bytes with valid entries after them
	// (not a torn tail). The *CorruptError names the file and offset;
	// Salvage keeps every valid entry and moves the damaged file aside.
	ErrCorrupt = errors.New("corrupt storage file")
	// ErrTruncatedSnapshot: a snapshot ends before its end entry.
	ErrTruncatedSnapshot = errors.New("truncated snapshot")
	// ErrNotPersisted: a record did not reach the disk (queue full, disk
	// fault, storage closed). The node keeps it in memory; Health says
	// degraded until a snapshot has written it.
	ErrNotPersisted = errors.New("record not persisted")
	// ErrLocked: another process has the directory open.
	ErrLocked = errors.New("storage directory in use")
	// ErrClosed: Start after Close.
	ErrClosed = errors.New("storage closed")
	// ErrStarted: Start called twice.
	ErrStarted = errors.New("storage already started")
)

// MaxRecordBytes bounds one record's AT line on disk: the longest client
// line a herd file allows (1 MiB) plus the AT line's origin and time
// difference. A longer record is not persisted (counted, reason
// DropTooLarge); the bound keeps a damaged length field from making the
// reader allocate or hash without limit.
const MaxRecordBytes = 1<<20 + 4<<10

// Fsync is when the log is flushed to the disk, as Redis's appendfsync.
type Fsync uint8

// Fsync modes. The zero value is FsyncEverySec, the default.
const (
	// FsyncEverySec writes each batch to the OS within 5 milliseconds and
	// fsyncs once a second in the background: a process crash loses only
	// records still queued; an OS crash or power cut loses up to about a
	// second.
	FsyncEverySec Fsync = iota
	// FsyncAlways fsyncs every batch before its Tickets are released
	// (group commit: one fsync for all records queued meanwhile). A reply
	// sent after Ticket.Wait is on disk.
	FsyncAlways
	// FsyncNo leaves flushing to the OS (fsync only when a segment is
	// sealed and on Close).
	FsyncNo
)

var fsyncNames = [...]string{FsyncEverySec: "everysec", FsyncAlways: "always", FsyncNo: "no"}

// String returns the herd file spelling of f.
func (f Fsync) String() string {
	if int(f) < len(fsyncNames) {
		return fsyncNames[f]
	}
	return fmt.Sprintf("Fsync(%d)", uint8(f))
}

// ParseFsync parses the herd file spelling: always, everysec or no.
func ParseFsync(s string) (Fsync, error) {
	for i, name := range fsyncNames {
		if s == name {
			return Fsync(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: want always, everysec or no", ErrBadFsync, s)
}

// MarshalText makes Fsync a YAML/flag string.
func (f Fsync) MarshalText() ([]byte, error) {
	if int(f) >= len(fsyncNames) {
		return nil, fmt.Errorf("%w %d", ErrBadFsync, uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText parses with ParseFsync (herd file, command line).
func (f *Fsync) UnmarshalText(b []byte) error {
	v, err := ParseFsync(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Store is the node's record store as storage sees it: Start fills it with
// the records on disk, and snapshots read it. node/store.Store is one.
type Store interface {
	// PutView stores r if it is newer than the client's record. r.Line
	// aliases a buffer that Start reuses once PutView returns, so the
	// store copies what it keeps. Start calls it from several goroutines
	// at once, in no particular order: the newest record of each client
	// must win whatever the order.
	PutView(r record.Record) (record.Record, bool)
	// Reserve makes room for about n more clients (a hint): Start calls
	// it with the size of the snapshot it is about to put.
	Reserve(n int)
	// Range calls fn for every record until fn returns false (an
	// iter.Seq). Snapshots copy the records out and write them after it
	// returns, so Range's locks are never held across disk I/O.
	Range(fn func(record.Record) bool)
}

// Config of one node's storage.
type Config struct {
	// Dir is the node's own directory (the caller joins the herd's
	// storage dir and the node name). Start creates it.
	Dir string
	// Fsync is the flush policy; FsyncEverySec by default.
	Fsync Fsync
	// Store is filled by Start and read by snapshots.
	Store Store
	// QueueLen bounds records waiting to be written. When it is full,
	// Append drops the record (counted, degraded until a snapshot).
	QueueLen int
	// SnapshotMinBytes: a snapshot is written when the log exceeds both
	// this and the size of the last snapshot, so the files stay within
	// about twice the live records, or the live records and this while
	// they are fewer, and replay reads at most this much more log. Every
	// snapshot rewrites every live record, so with a small store under
	// many updates this, not the store, sets what snapshots cost: 64 MiB
	// as Redis's auto-aof-rewrite-min-size (8 MiB cost the herd a quarter
	// more CPU per IAMAT at 100,000 clients, BENCHMARKS.md).
	SnapshotMinBytes int64
	// SnapshotOnClose writes a snapshot in Close, so the next Start reads
	// the snapshot alone.
	SnapshotOnClose bool
	// RetryInterval is the least time between two snapshot attempts after
	// a failed one, and between attempts to recover from a disk fault.
	RetryInterval time.Duration
	// Logger gets degraded/recovered transitions, cut torn tails, and
	// rate-limited lines about records not persisted.
	Logger *slog.Logger
	// Now is the clock for Health and snapshot times; time.Now when nil.
	Now func() time.Time
	// Observe is told of every write, fsync, snapshot and fault (metrics).
	Observe Observer
}

// DefaultConfig returns the defaults; Dir and Store must be set.
func DefaultConfig() Config {
	return Config{
		Fsync:            FsyncEverySec,
		QueueLen:         1 << 16,
		SnapshotMinBytes: 64 << 20,
		RetryInterval:    5 * time.Second,
		Logger:           slog.New(slog.DiscardHandler),
		Now:              time.Now,
		Observe:          NopObserver{},
	}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case int(c.Fsync) >= len(fsyncNames):
		return fmt.Errorf("%w: Fsync: %w %d", ErrInvalidConfig, ErrBadFsync, uint8(c.Fsync))
	case c.Store == nil:
		return fmt.Errorf("%w: Store is nil", ErrInvalidConfig)
	case c.QueueLen < 1:
		return fmt.Errorf("%w: QueueLen %d is below 1", ErrInvalidConfig, c.QueueLen)
	case c.SnapshotMinBytes < 0:
		return fmt.Errorf("%w: SnapshotMinBytes %d is negative", ErrInvalidConfig, c.SnapshotMinBytes)
	case c.RetryInterval <= 0:
		return fmt.Errorf("%w: RetryInterval %v is not positive", ErrInvalidConfig, c.RetryInterval)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is nil", ErrInvalidConfig)
	case c.Observe == nil:
		return fmt.Errorf("%w: Observe is nil", ErrInvalidConfig)
	}
	return nil
}
