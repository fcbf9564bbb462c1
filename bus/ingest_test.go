package bus

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// A message of more records than one store batch (Ingest puts them 64 at
// a time): every newer record is stored and relayed, in the message's
// order, and a record that is not newer than an earlier one of the same
// message — in another batch, or equal to it — is neither, and counts as
// stale.
func TestBus_IngestBatches(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, st, obs := startBus(t, ns, "B", []string{"A", "C"}, nil)
	watch, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var (
		mu      sync.Mutex
		relayed []string
	)
	if _, err := watch.Subscribe(Subject("C"), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		relayed = append(relayed, strings.Split(string(m.Data), "\n")...)
	}); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	at := func(client string, tm int) string { return fmt.Sprintf("AT A +0.000000001 %s +1+1 %d", client, tm) }
	var lines, want []string
	for i := range 150 {
		lines = append(lines, at(fmt.Sprintf("c%d", i), i+1))
	}
	want = append(want, lines...)
	lines = slices.Insert(lines, 100, at("c5", 1)) // older than c5's 6, a batch later
	lines = slices.Insert(lines, 130, lines[10])   // equal to c10's, a batch later
	newer := at("c20", 1000)                       // newer than c20's 21, two batches later
	lines = slices.Insert(lines, 140, newer)
	want = slices.Insert(want, 138, newer) // where it falls among the stored ones
	m := nats.NewMsg(Subject("B"))
	m.Header.Set(HeaderOrigin, "A")
	m.Header.Set(HeaderSender, "A")
	m.Data = []byte(strings.Join(lines, "\n"))
	if err := watch.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "every newer record relayed to C", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(relayed) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(relayed, want) {
		t.Fatalf("relayed %d records, want %d in the message's order; first difference at %d", len(relayed), len(want), firstDiff(relayed, want))
	}
	if got := obs.received.Load(); got != int64(len(want)) {
		t.Errorf("received newer %d, want %d", got, len(want))
	}
	if got := obs.stale.Load(); got != 2 {
		t.Errorf("received stale %d, want 2", got)
	}
	for c, line := range map[string]string{"c5": at("c5", 6), "c10": at("c10", 11), "c20": newer, "c149": at("c149", 150)} {
		if got := st.Line(c); got != line {
			t.Errorf("%s holds %q, want %q", c, got, line)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
