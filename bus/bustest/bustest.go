// Package bustest is what the tests of the flood (bus) and of
// anti-entropy (bus/antientropy) share: a real embedded NATS server and
// the node's real store, with helpers to read it.
package bustest

import (
	"testing"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/store"
)

// StartNATS starts an embedded NATS server, closed at the end of the test.
func StartNATS(t testing.TB) *embeddednats.Server {
	t.Helper()
	cfg := embeddednats.DefaultConfig()
	cfg.Name = "test"
	cfg.Logger = nil
	s, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Store is the node's real store, with helpers for tests.
type Store struct{ *store.Store }

// NewStore returns an empty store.
func NewStore() *Store { return &Store{store.New()} }

// Line is client's record, or "".
func (s *Store) Line(client string) string {
	r, _ := s.Get(client)
	return r.Line
}

// Lines is every record: client → AT line.
func (s *Store) Lines() map[string]string {
	out := map[string]string{}
	s.Range(func(r record.Record) bool {
		out[r.Client()] = r.Line
		return true
	})
	return out
}

// MustRecord parses an AT line.
func MustRecord(t testing.TB, line string) record.Record {
	t.Helper()
	r, err := record.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
