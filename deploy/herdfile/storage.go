package herdfile

import (
	"path/filepath"
	"strings"

	"github.com/herdhq/herd/node/storage"
)

// Storage keeps each node's records on disk, so that they survive a
// restart of the whole herd (package node/storage; README "Durability").
type Storage struct {
	// Dir is the herd's storage directory: a node keeps its files in
	// <dir>/<node name>/. Empty keeps records in memory only (the
	// default). Load resolves a relative path against the herd file's
	// directory; `herd up --data` and `herd node --data` set it.
	Dir string `yaml:"dir"`
	// Fsync is when the log reaches the disk: always (before each reply,
	// many records per fsync), everysec (once a second) or no (left to
	// the OS).
	Fsync string `yaml:"fsync"`
}

// DefaultStorage is memory only, with the storage package's fsync mode
// for when a dir is set.
func DefaultStorage() Storage {
	return Storage{Fsync: storage.DefaultConfig().Fsync.String()}
}

// FsyncMode is the parsed Fsync of a validated Storage.
func (s Storage) FsyncMode() storage.Fsync {
	f, err := storage.ParseFsync(s.Fsync)
	if err != nil {
		return storage.DefaultConfig().Fsync // Validate refused it already
	}
	return f
}

// NodeDir is where node name keeps its files, "" without a dir.
func (s Storage) NodeDir(name string) string {
	if s.Dir == "" {
		return ""
	}
	return filepath.Join(s.Dir, name)
}

func (s Storage) validate(p *problems) {
	if _, err := storage.ParseFsync(s.Fsync); err != nil {
		p.add("storage.fsync", storage.ErrBadFsync, "%q, want always, everysec or no", s.Fsync)
	}
	if strings.ContainsRune(s.Dir, 0) {
		p.add("storage.dir", ErrBadStorageDir, "path contains NUL")
	}
}
