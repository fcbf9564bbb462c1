package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/nodetest/disk"
	"github.com/herdhq/herd/node/nodetest/logbuf"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/storage"
)

// durable keeps every node's records in dir/<name>/, retrying a failed
// disk quickly, then applies mods.
func durable(dir string, mods ...func(string, *node.Config)) func(string, *node.Config) {
	return func(name string, c *node.Config) {
		c.Storage.Dir = dir
		c.Storage.RetryInterval = 50 * time.Millisecond
		for _, mod := range mods {
			mod(name, c)
		}
	}
}

// Every record a node stores reaches its disk — its own IAMATs, the
// flood's and anti-entropy's — and a node started again on its directory
// holds them as soon as Start returns, before any neighbor is up.
func TestNode_StorageKeepsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	h := startHerd(t, nodetest.Line3, durable(dir))
	want := map[string]string{}
	// c1 reaches C by the flood.
	want["c1"] = h.IAMAT("A", "c1", "+1+1", "1621464827")
	h.WaitRecord("c1", want["c1"], "B", "C")
	// c2 reaches C by anti-entropy, when C comes back.
	h.Stop("C")
	want["c2"] = h.IAMAT("A", "c2", "+2+2", "1621464827")
	h.WaitRecord("c2", want["c2"], "B")
	h.StartNode("C")
	h.WaitRecord("c2", want["c2"], "C")
	for _, name := range h.Live() {
		h.Stop(name)
	}

	for _, name := range []string{"C", "A"} { // alone: no neighbor to repair from
		n := h.StartNode(name)
		if got := nodetest.Lines(n); !maps.Equal(got, want) {
			t.Errorf("%s restarted alone holds %v, want %v", name, got, want)
		}
		if rp := n.Storage().Replayed(); rp.Records != len(want) {
			t.Errorf("%s replayed %+v, want %d records", name, rp, len(want))
		}
		h.Stop(name)
	}
	// Memory only (no dir), the same node starts empty.
	h2 := startHerd(t, map[string][]string{"C": nil})
	if got := nodetest.Lines(h2.Node("C")); len(got) != 0 {
		t.Errorf("memory-only C holds %v", got)
	}
}

// A directory another node holds, or whose files are damaged, stops Start
// with an error naming it; nothing listens.
func TestNode_StorageRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	h := startHerd(t, map[string][]string{"A": nil}, durable(dir))
	h.IAMAT("A", "c1", "+1+1", "1621464827")

	cfg := h.Config("A")
	cfg.Client.Addr, cfg.NATS.ClusterAddr = "127.0.0.1:0", "127.0.0.1:0"
	twin, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = twin.Start(t.Context())
	if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dir, "A")) {
		t.Errorf("second node on A's directory: %v, want ErrLocked naming it", err)
	}
	if twin.ClientAddr() != "" {
		t.Errorf("the refused node listens on %s", twin.ClientAddr())
	}
	twin.Close()

	h.Stop("A") // a snapshot at the clean stop holds c1
	snaps, _ := filepath.Glob(filepath.Join(dir, "A", "*.snap"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots after a clean stop: %v", snaps)
	}
	if err := os.Truncate(snaps[0], 40); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(h.Config("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	err = n.Start(t.Context())
	var ce *storage.CorruptError
	if !errors.As(err, &ce) || ce.File != snaps[0] || !errors.Is(err, storage.ErrTruncatedSnapshot) {
		t.Fatalf("start on a truncated snapshot: %v, want a CorruptError naming %s", err, snaps[0])
	}
}

// StartNATS starts the NATS server alone — its cluster address known,
// nothing loaded, no client port — and Start then loads the records and
// starts the rest (herdrun starts a herd's nodes so, loading at once).
func TestNode_StartNATS(t *testing.T) {
	dir := t.TempDir()
	h := startHerd(t, map[string][]string{"A": nil}, durable(dir))
	want := map[string]string{"c1": h.IAMAT("A", "c1", "+1+1", "1621464827")}
	h.Stop("A")

	n, err := node.New(h.Config("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.StartNATS(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n.NATS().ClusterAddr() == "" || n.ClientAddr() != "" {
		t.Fatalf("after StartNATS: cluster %q, client %q; want only the cluster port", n.NATS().ClusterAddr(), n.ClientAddr())
	}
	if got := nodetest.Lines(n); len(got) != 0 {
		t.Fatalf("after StartNATS the node holds %v; want nothing loaded yet", got)
	}
	if err := n.StartNATS(t.Context()); !errors.Is(err, node.ErrStarted) {
		t.Fatalf("second StartNATS: %v; want ErrStarted", err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n.ClientAddr() == "" {
		t.Fatal("no client port after Start")
	}
	if got := nodetest.Lines(n); !maps.Equal(got, want) {
		t.Fatalf("after Start the node holds %v; want %v", got, want)
	}
	if err := n.Start(t.Context()); !errors.Is(err, node.ErrStarted) {
		t.Fatalf("second Start: %v; want ErrStarted", err)
	}
}

// With fsync always, an IAMAT's reply leaves only after its fsync: the
// metrics count the record fsynced by the time the client reads the
// reply. With fsync no nothing waits and nothing is fsynced while the
// node runs.
func TestNode_FsyncAlwaysRepliesAfterFsync(t *testing.T) {
	for _, tt := range []struct {
		fsync      storage.Fsync
		wantSynced float64
	}{{storage.FsyncAlways, 3}, {storage.FsyncNo, 0}} {
		t.Run(tt.fsync.String(), func(t *testing.T) {
			h := startHerd(t, map[string][]string{"A": nil}, nodetest.Monitor, durable(t.TempDir(), func(_ string, c *node.Config) {
				c.Storage.Fsync = tt.fsync
			}))
			reply := h.Send("A", "IAMAT a +1+1 1621464827", "IAMAT b +1+1 1621464827", "IAMAT c +1+1 1621464827")
			if strings.Count(reply, "AT A ") != 3 {
				t.Fatalf("replies %q", reply)
			}
			ss := nodetest.Scrape(t, h.Node("A").MonitorURL())
			if got := ss.Value("herd_storage_fsync_records_sum"); got != tt.wantSynced {
				t.Errorf("records fsynced when the replies arrived: %v, want %v", got, tt.wantSynced)
			}
		})
	}
}

// healthz reads /healthz.
func healthz(t *testing.T, n *node.Node) (int, node.Health) {
	t.Helper()
	code, body := nodetest.Get(t, n.MonitorURL()+"/healthz")
	var h node.Health
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/healthz %s: %v", body, err)
	}
	return code, h
}

// A full disk under a running node: it keeps answering every IAMAT and
// WHATSAT from memory; /healthz says degraded (200) with the reason; the
// metrics say what was not persisted; a rate-limited line says it in the
// log. Once space is freed it persists again — /healthz ok, gauge back to
// 0 — and the records taken meanwhile are on disk: the node started again
// on the directory holds them.
func TestNode_DiskFull(t *testing.T) {
	mnt := disk.Tmpfs(t, 256<<10)
	logs := &logbuf.Buffer{}
	h := startHerd(t, map[string][]string{"A": nil}, nodetest.Monitor, durable(mnt, func(_ string, c *node.Config) {
		c.Storage.Fsync = storage.FsyncAlways
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}))
	a := h.Node("A")
	want := map[string]string{}
	for i := range 20 {
		nodetest.Newest(t, want, h.IAMAT("A", fmt.Sprintf("before-%d", i), "+1+1", "1621464827"))
	}
	if code, hz := healthz(t, a); code != http.StatusOK || hz.Status != node.HealthOK || hz.Storage == nil ||
		hz.Storage.Status != node.HealthOK || hz.Storage.Fsync != "always" {
		t.Fatalf("/healthz before the fault: %d %+v", code, hz)
	}

	filler := filepath.Join(mnt, "filler")
	disk.Fill(t, filler)
	// The segment's last page may still take a few records: write until
	// one is refused, then 20 more. Every one is answered at once.
	during := 0
	iamat := func() {
		nodetest.Newest(t, want, h.IAMAT("A", fmt.Sprintf("during-%d", during), "+2+2", "1621464827"))
		during++
	}
	for !a.Storage().Health().Degraded {
		if during > 1000 {
			t.Fatal("1000 records written to a full disk")
		}
		iamat()
	}
	for range 20 {
		iamat()
	}
	if r := h.Send("A", "WHATSAT during-7 10 1"); !strings.HasPrefix(r, want["during-7"]) {
		t.Fatalf("WHATSAT on a full disk: %q", r)
	}
	code, hz := healthz(t, a)
	if code != http.StatusOK || hz.Status != node.HealthDegraded || hz.Storage.Status != node.HealthDegraded ||
		!strings.Contains(hz.Storage.Reason, "no space left on device") || hz.Storage.NotPersisted < 21 {
		t.Fatalf("/healthz on a full disk: %d %+v", code, hz)
	}
	ss := nodetest.Scrape(t, a.MonitorURL())
	if ss.Value("herd_storage_degraded") != 1 || ss.Value("herd_storage_not_persisted_records_total", "reason", "disk_error") < 21 {
		t.Errorf("metrics on a full disk: degraded %v, not persisted %v", ss.Value("herd_storage_degraded"),
			ss.Value("herd_storage_not_persisted_records_total", "reason", "disk_error"))
	}
	wait.For(t, "a failed snapshot attempt counted", func() bool {
		return nodetest.Scrape(t, a.MonitorURL()).Value("herd_storage_snapshots_total", "result", "failed") >= 1
	})
	if l := logs.String(); !strings.Contains(l, "storage degraded") || !strings.Contains(l, "records not persisted") {
		t.Errorf("log on a full disk lacks the degraded and not-persisted lines:\n%s", l)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "/healthz ok after space was freed", func() bool {
		_, hz := healthz(t, a)
		return hz.Status == node.HealthOK && hz.Storage.Status == node.HealthOK
	})
	ss = nodetest.Scrape(t, a.MonitorURL())
	if ss.Value("herd_storage_degraded") != 0 || ss.Value("herd_storage_snapshots_total", "result", "ok") < 1 {
		t.Errorf("metrics after recovery: degraded %v, snapshots %v", ss.Value("herd_storage_degraded"),
			ss.Value("herd_storage_snapshots_total", "result", "ok"))
	}
	nodetest.Newest(t, want, h.IAMAT("A", "after", "+3+3", "1621464827"))
	h.Stop("A")
	if got := nodetest.Lines(h.StartNode("A")); !maps.Equal(got, want) {
		t.Errorf("after the restart: %d records, want %d (before, during and after the full disk)", len(got), len(want))
	}
}

// Every storage metric of the README's table, scraped from /metrics after
// real traffic: A (fsync always, a snapshot whenever its log outgrows the
// last) takes 30 IAMATs, B and C (everysec) store them from the flood;
// then A and C are restarted, A from its snapshot and C (no snapshot at
// its stop) from its log. The fault metrics' non-zero half is
// TestNode_DiskFull's.
func TestNode_StorageMetrics(t *testing.T) {
	start := time.Now()
	h := startHerd(t, nodetest.Line3, nodetest.Monitor, durable(t.TempDir(), func(name string, c *node.Config) {
		switch name {
		case "A":
			c.Storage.Fsync, c.Storage.SnapshotMinBytes = storage.FsyncAlways, 1
		case "C":
			c.Storage.SnapshotOnClose = false
		}
	}))
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("IAMAT m%d +1+1 1621464827", i))
	}
	if r := h.Send("A", lines...); strings.Count(r, "AT A ") != 30 {
		t.Fatalf("replies %q", r)
	}
	want := nodetest.Lines(h.Node("A"))
	h.WaitConverged(want, 10*time.Second, "B", "C")
	wait.For(t, "B's everysec fsync", func() bool {
		return nodetest.Scrape(t, h.Node("B").MonitorURL()).Value("herd_storage_fsync_records_sum") == 30
	})
	wait.For(t, "A's snapshot of all 30", func() bool {
		rp := nodetest.Scrape(t, h.Node("A").MonitorURL())
		return rp.Value("herd_storage_snapshots_total", "result", "ok") >= 1 && h.Node("A").Storage().Health().Degraded == false
	})
	scrape := map[string]nodetest.Samples{}
	for _, name := range []string{"A", "B"} {
		scrape[name] = nodetest.Scrape(t, h.Node(name).MonitorURL())
	}
	h.Stop("C")
	h.Stop("A")
	h.StartNode("A")
	h.StartNode("C")
	for _, name := range []string{"A", "C"} {
		scrape[name+" restarted"] = nodetest.Scrape(t, h.Node(name).MonitorURL())
	}
	inf := float64(1 << 62)
	for _, tt := range []struct {
		node, metric string
		labels       []string
		min, max     float64
	}{
		{"A", "herd_storage_written_records_total", nil, 30, 30},
		{"B", "herd_storage_written_records_total", nil, 30, 30}, // from the flood
		{"A", "herd_storage_fsync_records_sum", nil, 30, 30},     // each before its reply
		{"A", "herd_storage_fsync_records_count", nil, 1, 30},
		{"A", "herd_storage_fsync_duration_seconds_count", nil, 1, 30},
		{"B", "herd_storage_fsync_duration_seconds_count", nil, 1, 30},
		{"A", "herd_storage_log_bytes", nil, 1, inf},
		{"A", "herd_storage_snapshot_bytes", nil, 30 * 40, inf},
		{"A", "herd_storage_snapshots_total", []string{"result", "ok"}, 1, 30},
		{"A", "herd_storage_snapshots_total", []string{"result", "failed"}, 0, 0},
		{"A", "herd_storage_snapshot_duration_seconds_count", nil, 1, 30},
		{"A", "herd_storage_snapshot_timestamp_seconds", nil, float64(start.Unix()), inf},
		{"B", "herd_storage_snapshot_timestamp_seconds", nil, 0, 0}, // none yet
		{"A", "herd_storage_degraded", nil, 0, 0},
		{"A", "herd_storage_not_persisted_records_total", []string{"reason", "queue_full"}, 0, 0},
		{"A", "herd_storage_not_persisted_records_total", []string{"reason", "disk_error"}, 0, 0},
		{"A", "herd_storage_not_persisted_records_total", []string{"reason", "too_large"}, 0, 0},
		{"A", "herd_storage_not_persisted_records_total", []string{"reason", "closed"}, 0, 0},
		{"A restarted", "herd_storage_replayed_records", []string{"source", "snapshot"}, 30, 30},
		{"A restarted", "herd_storage_replayed_records", []string{"source", "log"}, 0, 0},
		{"A restarted", "herd_storage_snapshot_timestamp_seconds", nil, float64(start.Unix()), inf},
		{"A restarted", "herd_storage_replay_duration_seconds", nil, 1e-9, 10},
		{"C restarted", "herd_storage_replayed_records", []string{"source", "log"}, 30, 30},
		{"C restarted", "herd_storage_replayed_records", []string{"source", "snapshot"}, 0, 0},
		{"C restarted", "herd_storage_log_bytes", nil, 30 * 40, inf},
	} {
		scrape[tt.node].Want(t, tt.node, tt.metric, tt.labels, tt.min, tt.max)
	}
	// A node without storage exports none of them.
	h2 := startHerd(t, map[string][]string{"M": nil}, nodetest.Monitor)
	if ss := nodetest.Scrape(t, h2.Node("M").MonitorURL()); ss.Has("herd_storage_written_records_total") {
		t.Error("a memory-only node exports storage metrics")
	}
}
