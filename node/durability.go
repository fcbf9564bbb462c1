package node

import (
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/storage"
	"github.com/herdhq/herd/node/store"
)

// Durability: with Config.Storage.Dir set, the node keeps every record it
// stores on disk (node/storage) — its own IAMATs through the core's Log,
// the flood's and anti-entropy's through the store the flood writes to —
// loads them at Start before anything listens, and closes the storage
// after everything that appends to it.

// defaultStorage is the node's storage config: the storage package's
// defaults, and a snapshot at a clean stop, so that the next start reads
// one file.
func defaultStorage() storage.Config {
	c := storage.DefaultConfig()
	c.SnapshotOnClose = true
	return c
}

// coreLog is the storage as the core's log. A ticket that is already
// decided (fsync everysec or no, or a record the storage gave up) is
// nil, so a door answers at once.
type coreLog struct{ s *storage.Storage }

func (l coreLog) Append(r record.Record) core.Ticket {
	t := l.s.Append(r)
	if t.Ready() {
		return nil
	}
	return t
}

// loggedStore is the store as the flood sees it, and anti-entropy, whose
// repairs go through the flood's Ingest: every record it stores newer is
// appended to the log. Nothing waits on these: they acknowledge nobody.
type loggedStore struct {
	st  *store.Store
	log *storage.Storage
}

func (l loggedStore) PutViews(recs []record.Record, newer []bool) {
	l.st.PutViews(recs, newer)
	for i, r := range recs {
		if newer[i] {
			l.log.Append(r)
		}
	}
}

var (
	_ core.Log      = coreLog{}
	_ core.Ticket   = storage.Ticket{}
	_ bus.Store     = loggedStore{}
	_ storage.Store = (*store.Store)(nil)
)

// floodStore is the store the flood writes to.
func (n *Node) floodStore() bus.Store {
	if n.storage == nil {
		return n.store
	}
	return loggedStore{st: n.store, log: n.storage}
}

// StorageHealth is the "storage" of /healthz, present when the node keeps
// its records on disk.
type StorageHealth struct {
	// Status is HealthOK, or HealthDegraded while some record the node
	// holds is not on disk (the node keeps serving from memory).
	Status string `json:"status"`
	Fsync  string `json:"fsync"`
	// Reason says why it is degraded: the last disk error met.
	Reason string `json:"reason,omitempty"`
	// Since is when the current status began.
	Since time.Time `json:"since"`
	// NotPersisted counts records not written since the node started
	// (a snapshot writes them once the disk recovers).
	NotPersisted uint64 `json:"not_persisted"`
}

// storageHealth is the storage's part of the node's health; nil without
// storage.
func (n *Node) storageHealth() *StorageHealth {
	if n.storage == nil {
		return nil
	}
	h := n.storage.Health()
	sh := &StorageHealth{Status: HealthOK, Fsync: n.parts.storage.Fsync.String(), Since: h.Since, NotPersisted: h.NotPersisted}
	if h.Degraded {
		sh.Status, sh.Reason = HealthDegraded, h.Reason
	}
	return sh
}

// Storage is the node's storage, nil when it keeps records in memory
// only.
func (n *Node) Storage() *storage.Storage { return n.storage }
