package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node/nodetest"
)

// chaosPassword is the system user's password of the chaos tests' herds.
const chaosPassword = "chaos-test-system-password"

// chaosEnv is the environment herd node, herd up and herd chaos get here.
var chaosEnv = []string{"HERD_SYSTEM_PASSWORD=" + chaosPassword}

// herdChaos runs `herd chaos --server server args...` as a user would, with
// env added to this process's environment (the system password unless env
// says otherwise), and returns its output and error.
func herdChaos(t *testing.T, env []string, server string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(herdBin, append([]string{"chaos", "--server", server}, args...)...)
	cmd.Env = append(withoutVar(os.Environ(), "HERD_SYSTEM_PASSWORD", "NATS_USER", "NATS_PASSWORD", "NATS_URL"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// withoutVar drops the named variables from env.
func withoutVar(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// mustChaos runs herd chaos as the system user and wants want in its
// output.
func mustChaos(t *testing.T, server, want string, args ...string) string {
	t.Helper()
	out, err := herdChaos(t, chaosEnv, server, args...)
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("herd chaos %v: %q, %v; want %q", args, out, err, want)
	}
	return out
}

// herd up --chaos runs the README walkthrough: herd chaos cuts a route,
// partitions, heals and stops and starts a node, and the herd keeps
// answering: a record written during a partition reaches its own side at
// once and the other side only after the heal, and a record written while
// a node is stopped reaches it by anti-entropy once it starts, which its
// repair counter shows.
func TestHerdUp_Chaos(t *testing.T) {
	file := herdFile(t, true)
	hf, err := herdfile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	p := startProcEnv(t, chaosEnv, "up", "--config", file, "--chaos")
	p.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
	addrs := map[string]string{}
	for len(addrs) < 5 {
		m := p.waitLine(t, tableRE)
		addrs[m[1]] = m[2]
	}
	server := p.waitLine(t, regexp.MustCompile(`Chaos is on: try herd chaos --server (\S+) cut`))[1]
	if golomanNATS, _ := hf.Node("Goloman"); server != "nats://"+golomanNATS.NATS {
		t.Errorf("herd up suggests --server %s, want Goloman's nats address %s", server, golomanNATS.NATS)
	}

	mustChaos(t, server, "cut Goloman–Hands", "cut", "Goloman", "Hands")
	mustChaos(t, server, "cut: Goloman–Hands\n", "status")
	mustChaos(t, server, "partitioned", "partition", "Goloman,Hands,Wilkes", "Holiday,Welsh")
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
	mustChaos(t, server, "healed every route", "heal-all")
	if got := waitWhatsat(t, addrs["Welsh"], "kiwi"); !strings.HasPrefix(got, at) {
		t.Fatalf("WHATSAT at Welsh after heal: %q, want %q first", got, at)
	}
	mustChaos(t, server, "stopped Welsh", "stop", "Welsh")
	mustChaos(t, server, "stopped: Welsh (", "status")
	// Welsh takes no clients, and misses a record written meanwhile.
	if out := talkErr(addrs["Welsh"], "WHATSAT kiwi 10 5"); out != "" {
		t.Fatalf("stopped Welsh answered %q", out)
	}
	at2 := talk(t, addrs["Goloman"], "IAMAT kea +1+1 1621464828")
	waitWhatsat(t, addrs["Holiday"], "kea")
	mustChaos(t, server, "started Welsh", "start", "Welsh")
	if got := waitWhatsat(t, addrs["Welsh"], "kea"); !strings.HasPrefix(got, at2) {
		t.Fatalf("WHATSAT at restarted Welsh: %q, want %q first", got, at2)
	}
	// Its one record came back by anti-entropy, and /metrics says so once
	// the exchange that pulled it ended (a moment after it was stored).
	welsh, _ := hf.Node("Welsh")
	nodetest.WaitCount(t, "http://"+welsh.Monitor, "herd_antientropy_repaired_records_total", 1, "node", "Welsh")
	if out, err := herdChaos(t, chaosEnv, server, "cut", "Goloman", "Nobody"); err == nil || !strings.Contains(out, "unknown node") {
		t.Fatalf("cut with an unknown node: %q, %v", out, err)
	}
	p.stopQuietly(t)
}

// talkErr is talk for a port that may refuse: "" if it does.
func talkErr(addr, line string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(line + "\n"))
	c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}
