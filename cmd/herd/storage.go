package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/herdhq/herd/node/storage"
)

type storageCmd struct {
	Salvage salvageCmd `cmd:"" help:"Repair a node's storage directory that the node refused to start on (a bad checksum in the middle of a file, a truncated snapshot): keep every valid record, move the damaged file aside. Run it with the node stopped."`
}

type salvageCmd struct {
	Dir string `arg:"" type:"existingdir" help:"The node's storage directory, <storage dir>/<node name>: the directory of the file the node's error names."`
}

func (c *salvageCmd) Run(e env) error {
	if !holdsStorage(c.Dir) {
		return fmt.Errorf("%s holds no herd log or snapshot: give a node's directory, <storage dir>/<node name>", c.Dir)
	}
	done, err := storage.Salvage(c.Dir, nil)
	for _, sv := range done {
		var spans []string
		var lost int64
		for _, s := range sv.Skipped {
			spans = append(spans, fmt.Sprintf("%d bytes at offset %d", s.Length, s.Offset))
			lost += s.Length
		}
		fmt.Fprintf(e.stdout, "salvaged %s: kept %d records, skipped %s\n  the original is kept as %s (delete it when no longer wanted)\n",
			sv.File, sv.Kept, strings.Join(spans, ", "), sv.DamagedAs)
	}
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return fmt.Errorf("%w: stop the node first", err)
		}
		return err
	}
	if len(done) == 0 {
		fmt.Fprintf(e.stdout, "%s: no damaged file, nothing to salvage (a torn tail is cut when the node starts)\n", c.Dir)
		return nil
	}
	fmt.Fprintln(e.stdout, "the node can start now; records in the skipped bytes are gone from it, and its neighbors' anti-entropy brings back those the herd still holds")
	return nil
}

// holdsStorage reports whether dir has a log segment or snapshot, so that
// salvage never takes a wrong directory (it creates its lock file there).
func holdsStorage(dir string) bool {
	for _, pat := range []string{"*.log", "*.snap"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

// salvageHint tells what to do about an error naming a damaged storage
// file: the node refuses to guess, and salvage keeps what is valid.
func salvageHint(err error) error {
	var ce *storage.CorruptError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w\nto start with every valid record (the damaged file is kept aside): herd storage salvage %s", err, filepath.Dir(ce.File))
	}
	return err
}

// dataDir is the --data flag of herd up and herd node.
type dataDir struct {
	Data string `type:"path" placeholder:"DIR" help:"Keep each node's records on disk in DIR/<node name>/, so that they survive a restart (sets the herd file's storage.dir; storage.fsync says when they reach the disk)."`
}

// checkDir refuses a --data that exists and is not a directory, before
// any node starts.
func (d dataDir) check() error {
	if d.Data == "" {
		return nil
	}
	if fi, err := os.Stat(d.Data); err == nil && !fi.IsDir() {
		return fmt.Errorf("--data %s is not a directory", d.Data)
	}
	return nil
}
