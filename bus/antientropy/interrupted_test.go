package antientropy

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/bus/digest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// An exchange that ends while swapping records (the peer may have stored
// what was sent) is told apart from one that ends before any record was
// sent: its error wraps ErrInterrupted. The peer B is a fake that answers
// like an empty store, then falls silent at the step named.
func TestAntiEntropy_SyncInterrupted(t *testing.T) {
	for _, tt := range []struct {
		silentAt    string
		interrupted bool
	}{
		{opRoot, false},
		{opBuckets, false},
		{opRecords, true},
	} {
		t.Run(tt.silentAt, func(t *testing.T) {
			ns := bustest.StartNATS(t)
			nc, err := ns.Connect()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			var recordsSent atomic.Int32
			var zero [digest.GroupSize]uint64
			sub, err := nc.Subscribe(Subject("B"), func(m *nats.Msg) {
				op := m.Header.Get(HeaderSync)
				if op == opRecords {
					recordsSent.Add(1)
				}
				if op == tt.silentAt {
					return
				}
				r := &nats.Msg{Subject: m.Reply, Header: nats.Header{}}
				switch op {
				case opRoot:
					r.Header.Set(HeaderSync, opGroups)
					r.Data = appendHashes(nil, make([]uint64, digest.Groups))
				case opBuckets:
					groups, err := parseInts(m.Data, digest.Groups)
					if err != nil {
						t.Error(err)
						return
					}
					r.Header.Set(HeaderSync, opBuckets)
					for i, g := range groups {
						if i > 0 {
							r.Data = append(r.Data, '\n')
						}
						r.Data = appendGroupLine(r.Data, g, &zero)
					}
				default:
					t.Errorf("unexpected request %q", op)
					return
				}
				if err := nc.PublishMsg(r); err != nil {
					t.Error(err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			st := bustest.NewStore()
			st.Put(bustest.MustRecord(t, at("A", "c1", "1621464827")))
			a := startNodeOn(t, ns, "A", []string{"B"}, st, func(c *Config) {
				c.Interval, c.Timeout = 0, 200*time.Millisecond // B never answers: fail soon
			})
			var first error
			wait.For(t, "A's start-up exchange with B to fail", func() bool {
				a.obs.mu.Lock()
				defer a.obs.mu.Unlock()
				if len(a.obs.errs) > 0 {
					first = a.obs.errs[0]
				}
				return first != nil
			})
			if got := errors.Is(first, ErrInterrupted); got != tt.interrupted {
				t.Errorf("error %q: wraps ErrInterrupted %v, want %v", first, got, tt.interrupted)
			}
			if sent := recordsSent.Load() > 0; sent != tt.interrupted {
				t.Errorf("records sent to B: %v, want %v", sent, tt.interrupted)
			}
		})
	}
}
