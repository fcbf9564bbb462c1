package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/nodetest"
)

// chaos runs `herd chaos ...` against admin as a user would.
func chaos(t *testing.T, admin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(herdBin, append([]string{"chaos"}, args...)...)
	cmd.Env = append(cmd.Environ(), "HERD_CHAOS_ADMIN="+admin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String() + errOut.String(), err
}

// herd up --chaos runs the herd behind route proxies; herd chaos cuts a
// route, partitions, heals and stops and starts a node, and the herd
// keeps answering: a record written during a partition reaches its own
// side at once and the other side only after the heal, and a restarted
// node gets it back by anti-entropy, which its repair counter shows.
func TestHerdUp_Chaos(t *testing.T) {
	admin := freeAddrs(t, 1)[0]
	// Fixed ports: a restarted node listens on its client port again.
	file := herdFile(t, true)
	hf, err := herdfile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "up", "--config", file, "--chaos", "--chaos-admin", admin)
	p.waitLine(t, regexp.MustCompile(`is up with chaos: 5 nodes`))
	addrs := map[string]string{}
	for len(addrs) < 5 {
		m := p.waitLine(t, tableRE)
		addrs[m[1]] = m[2]
	}
	p.waitLine(t, regexp.MustCompile(`chaos admin on http://`+regexp.QuoteMeta(admin)))

	mustChaos := func(want string, args ...string) {
		t.Helper()
		out, err := chaos(t, admin, args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("herd chaos %v: %q, %v; want %q", args, out, err, want)
		}
	}
	mustChaos("cut Goloman–Hands", "cut", "Goloman", "Hands")
	mustChaos("cut: Goloman–Hands", "status")
	mustChaos("partitioned", "partition", "Goloman,Hands,Wilkes", "Holiday,Welsh")
	at := talk(t, addrs["Goloman"], "IAMAT kiwi +34.068930-118.445127 1621464827.5")
	// Goloman's side has it (through Wilkes: Goloman–Hands is cut); the
	// other side lacks it while the partition lasts, however long the
	// flood and anti-entropy have had on this side.
	for _, name := range []string{"Hands", "Wilkes"} {
		if got := waitWhatsat(t, addrs[name], "kiwi"); !strings.HasPrefix(got, at) {
			t.Fatalf("WHATSAT at %s during the partition: %q, want %q first", name, got, at)
		}
	}
	for _, name := range []string{"Holiday", "Welsh"} {
		if got := talk(t, addrs[name], "WHATSAT kiwi 10 5"); got != "? WHATSAT kiwi 10 5\n" {
			t.Fatalf("%s answered %q during the partition: the record crossed it", name, got)
		}
	}
	mustChaos("healed every link", "heal-all")
	if got := waitWhatsat(t, addrs["Welsh"], "kiwi"); !strings.HasPrefix(got, at) {
		t.Fatalf("WHATSAT at Welsh after heal: %q, want %q first", got, at)
	}
	mustChaos("stopped Welsh", "stop", "Welsh")
	mustChaos("stopped: Welsh", "status")
	mustChaos("started Welsh", "start", "Welsh")
	if got := waitWhatsat(t, addrs["Welsh"], "kiwi"); !strings.HasPrefix(got, at) {
		t.Fatalf("WHATSAT at restarted Welsh: %q, want %q first", got, at)
	}
	// Its one record came back by anti-entropy, and /metrics says so.
	welsh, _ := hf.Node("Welsh")
	if got := nodetest.Scrape(t, "http://"+welsh.Monitor).Value("herd_antientropy_repaired_records_total", "node", "Welsh"); got != 1 {
		t.Errorf("Welsh's herd_antientropy_repaired_records_total = %v after its restart, want 1", got)
	}
	if out, err := chaos(t, admin, "cut", "Goloman", "Nobody"); err == nil || !strings.Contains(out, "unknown node") {
		t.Fatalf("cut with an unknown node: %q, %v", out, err)
	}
	p.stop(t)
}
