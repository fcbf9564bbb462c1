package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"
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
// keeps answering: a record written during a partition reaches the other
// side after the heal, and a restarted node gets it back by anti-entropy.
func TestHerdUp_Chaos(t *testing.T) {
	admin := freeAddrs(t, 1)[0]
	// Fixed ports: a restarted node listens on its client port again.
	p := startProc(t, "up", "--config", herdFile(t, true), "--chaos", "--chaos-admin", admin)
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
	if out, err := chaos(t, admin, "cut", "Goloman", "Nobody"); err == nil || !strings.Contains(out, "unknown node") {
		t.Fatalf("cut with an unknown node: %q, %v", out, err)
	}
	p.stop(t)
}
