package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/herdhq/herd/bus/record"
)

// PutViews answers each record as PutView in turn would, and hands back
// the stored copy of each record it kept.
func TestStore_PutViews(t *testing.T) {
	const (
		c100 = "AT Hands +0.000000001 c +1+1 100"
		c101 = "AT Hands +0.000000001 c +1+1 101"
		d100 = "AT Hands +0.000000001 d +1+1 100"
	)
	tests := []struct {
		name  string
		held  []string // put before, one by one
		lines []string
		want  []bool
		kept  map[string]string // client → Get after
	}{
		{"empty batch", nil, nil, nil, nil},
		{"new clients", nil, []string{c100, d100}, []bool{true, true}, map[string]string{"c": c100, "d": d100}},
		{"equal to held", []string{c100}, []string{c100}, []bool{false}, map[string]string{"c": c100}},
		{"equal spelled differently", []string{c100}, []string{c100 + ".0"}, []bool{false}, map[string]string{"c": c100}},
		{"older than held", []string{c101}, []string{c100}, []bool{false}, map[string]string{"c": c101}},
		{"newer than held", []string{c100}, []string{c101}, []bool{true}, map[string]string{"c": c101}},
		{"one client newer then older", nil, []string{c100, c101, c100}, []bool{true, true, false}, map[string]string{"c": c101}},
		{"one client older then newer", nil, []string{c101, c100}, []bool{true, false}, map[string]string{"c": c101}},
		{"a record twice", nil, []string{d100, c100, d100}, []bool{true, true, false}, map[string]string{"c": c100, "d": d100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for _, l := range tt.held {
				r, err := record.Parse([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				s.Put(r)
			}
			recs := make([]record.Record, len(tt.lines))
			bufs := make([][]byte, len(tt.lines))
			for i, l := range tt.lines {
				bufs[i] = []byte(l)
				r, err := record.ParseView(bufs[i])
				if err != nil {
					t.Fatal(err)
				}
				recs[i] = r
			}
			newer := make([]bool, len(recs)+1) // longer than recs: fine
			newer[len(recs)] = true
			s.PutViews(recs, newer)
			for i, want := range tt.want {
				if newer[i] != want {
					t.Errorf("record %d (%s): newer %v, want %v", i, tt.lines[i], newer[i], want)
				}
				if recs[i].Line != tt.lines[i] {
					t.Errorf("record %d: %q after PutViews, want %q", i, recs[i].Line, tt.lines[i])
				}
			}
			if !newer[len(recs)] {
				t.Error("PutViews wrote past the batch in newer")
			}
			for i := range bufs {
				copy(bufs[i], "XXXXXXXXXXXXXXXXXXXXXXXXXXXX")
			}
			for c, want := range tt.kept {
				if got, ok := s.Get(c); !ok || got.Line != want {
					t.Errorf("Get(%s) = %q, %v; want %q", c, got.Line, ok, want)
				}
			}
			if s.Len() != len(tt.kept) {
				t.Errorf("Len = %d, want %d", s.Len(), len(tt.kept))
			}
		})
	}
}

// Batches spanning many shards from several writers at once, with Put,
// Settle and Range meanwhile: nobody deadlocks on the shard locks a batch
// takes together, and every client ends with the newest record any
// writer put (run with -race).
func TestStore_PutViewsConcurrent(t *testing.T) {
	s := New()
	const writers, clients, steps = 4, 300, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]record.Record, 0, clients)
			newer := make([]bool, clients)
			for i := range steps {
				recs = recs[:0]
				for c := range clients {
					recs = append(recs, rec(t, "Hands", fmt.Sprintf("c%d", (c*7+w)%clients), "+1+1", fmt.Sprintf("%d.%d", i, w)))
				}
				s.PutViews(recs, newer)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range steps {
			s.Put(rec(t, "Goloman", "c1", "+1+1", fmt.Sprintf("%d", i)))
			s.Settle(int64(i) * 1e9)
			s.Range(func(record.Record) bool { return true })
		}
	}()
	wg.Wait()
	wantNewest(t, s, clients, fmt.Sprintf("%d.%d", steps-1, writers-1))
}
