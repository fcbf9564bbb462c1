package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herdhq/herd/node/storage"
)

// Storage is the metrics of a node's storage (node/storage): what reached
// the disk, how long fsyncs and snapshots take, what was replayed at
// start and what was not persisted.
type Storage struct {
	logBytes, snapBytes prometheus.Gauge
	written             prometheus.Counter
	fsyncLatency        prometheus.Histogram
	fsyncRecords        prometheus.Histogram
	snapTime            prometheus.Gauge
	snapDuration        prometheus.Histogram
	snapshots           [2]prometheus.Counter // indexed by snapshotOK, snapshotFailed
	replayed            [2]prometheus.Gauge   // from the snapshot, from the log
	replayDuration      prometheus.Gauge
	notPersisted        [numDropReasons]prometheus.Counter
	degraded            prometheus.Gauge
}

// The storage metrics are storage's observer: a signature that drifts is
// a compile error here.
var _ storage.Observer = (*Storage)(nil)

const (
	snapshotOK = iota
	snapshotFailed
)

// dropReasons are storage's reasons, indexed as Storage.notPersisted.
var dropReasons = [...]storage.DropReason{storage.DropQueueFull, storage.DropDiskError, storage.DropTooLarge, storage.DropClosed}

const numDropReasons = len(dropReasons)

// Storage returns the node's storage metrics, registering them on the
// first call: a node that keeps its records in memory only exports none.
func (m *Metrics) Storage() *Storage {
	m.storageOnce.Do(func() { m.storage = newStorage(m.f) })
	return m.storage
}

func newStorage(f factory) *Storage {
	s := &Storage{
		logBytes:  f.gauge("storage_log_bytes", "Bytes of the node's log segments on disk."),
		snapBytes: f.gauge("storage_snapshot_bytes", "Bytes of the node's current snapshot on disk."),
		written:   f.counter("storage_written_records_total", "Records written to the log (own IAMATs, flood and repair)."),
		fsyncLatency: f.histogram("storage_fsync_duration_seconds", "Fsyncs of the log.",
			prometheus.ExponentialBuckets(50e-6, 2, 16)), // 50µs .. 1.6s
		fsyncRecords: f.histogram("storage_fsync_records", "Records made durable by one fsync (the group-commit batch with fsync always).",
			prometheus.ExponentialBuckets(1, 4, 9)), // 1 .. 65536
		snapTime: f.gauge("storage_snapshot_timestamp_seconds", "Unix time of the current snapshot (written, or loaded at start); 0: none yet."),
		snapDuration: f.histogram("storage_snapshot_duration_seconds", "Snapshots written.",
			prometheus.ExponentialBuckets(1e-3, 2, 14)), // 1ms .. 8s
		replayDuration: f.gauge("storage_replay_duration_seconds", "Time the node took at start to load its snapshot and log."),
		degraded:       f.gauge("storage_degraded", "1 while some record the node holds is not on disk (disk full, read-only, permission denied, write queue full), else 0."),
	}
	snaps := f.counterVec("storage_snapshots_total", "Snapshot attempts, by result: ok, failed.", "result")
	s.snapshots[snapshotOK], s.snapshots[snapshotFailed] = snaps.WithLabelValues("ok"), snaps.WithLabelValues("failed")
	replayed := f.gaugeVec("storage_replayed_records", "Records loaded at start, by source: snapshot, log.", "source")
	s.replayed[0], s.replayed[1] = replayed.WithLabelValues("snapshot"), replayed.WithLabelValues("log")
	np := f.counterVec("storage_not_persisted_records_total", "Records kept in memory only, by reason: queue_full, disk_error, too_large, closed. A snapshot writes them once the disk recovers.", "reason")
	for i, r := range dropReasons {
		s.notPersisted[i] = np.WithLabelValues(string(r))
	}
	return s
}

// Replayed sets what Start loaded (storage.Observer).
func (s *Storage) Replayed(r storage.Replay) {
	s.replayed[0].Set(float64(r.FromSnapshot))
	s.replayed[1].Set(float64(r.FromLog))
	s.replayDuration.Set(r.Duration.Seconds())
	if !r.SnapshotTime.IsZero() {
		s.snapTime.Set(unixSeconds(r.SnapshotTime))
	}
}

// Wrote counts records written to the log (storage.Observer).
func (s *Storage) Wrote(records, _ int) { s.written.Add(float64(records)) }

// Synced observes one fsync (storage.Observer).
func (s *Storage) Synced(d time.Duration, records int) {
	s.fsyncLatency.Observe(d.Seconds())
	s.fsyncRecords.Observe(float64(records))
}

// Snapshotted counts a snapshot attempt (storage.Observer).
func (s *Storage) Snapshotted(st storage.SnapshotStats) {
	if st.Err != nil {
		s.snapshots[snapshotFailed].Inc()
		return
	}
	s.snapshots[snapshotOK].Inc()
	s.snapDuration.Observe(st.Duration.Seconds())
	s.snapTime.Set(unixSeconds(st.Time))
}

// NotPersisted counts records not written (storage.Observer).
func (s *Storage) NotPersisted(n int, reason storage.DropReason) {
	for i, r := range dropReasons {
		if r == reason {
			s.notPersisted[i].Add(float64(n))
			return
		}
	}
}

// HealthChanged sets the degraded gauge (storage.Observer).
func (s *Storage) HealthChanged(h storage.Health) {
	if h.Degraded {
		s.degraded.Set(1)
	} else {
		s.degraded.Set(0)
	}
}

// DiskUsage sets the bytes on disk (storage.Observer).
func (s *Storage) DiskUsage(logBytes, snapshotBytes int64) {
	s.logBytes.Set(float64(logBytes))
	s.snapBytes.Set(float64(snapshotBytes))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
