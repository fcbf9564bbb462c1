package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// nodeHerd is the built-in herd run as five `herd node --chaos` processes
// (the built binary), on fixed free ports.
type nodeHerd struct {
	hf    herdfile.Config
	file  string
	args  []string // added to every node's command line
	procs map[string]*proc
}

// startNodes starts every node of the herd file as its own process with
// chaos on and args, and waits until each has joined the herd.
func startNodes(t *testing.T, file string, args ...string) *nodeHerd {
	t.Helper()
	h := &nodeHerd{file: file, args: args, procs: map[string]*proc{}}
	hf, err := herdfile.Load(h.file)
	if err != nil {
		t.Fatal(err)
	}
	h.hf = hf
	for _, n := range hf.Names() {
		h.start(t, n)
	}
	for _, n := range hf.Names() {
		h.procs[n].waitLine(t, regexp.MustCompile(`joined the herd`))
	}
	return h
}

// start runs `herd node --chaos` for name (again, after a kill).
func (h *nodeHerd) start(t *testing.T, name string) *proc {
	t.Helper()
	p := startProcEnv(t, chaosEnv, append([]string{"node", "--config", h.file, "--name", name, "--chaos"}, h.args...)...)
	h.procs[name] = p
	return p
}

// server is name's NATS URL, for herd chaos --server.
func (h *nodeHerd) server(name string) string {
	n, _ := h.hf.Node(name)
	return "nats://" + n.NATS
}

func (h *nodeHerd) client(name string) string {
	n, _ := h.hf.Node(name)
	return n.Client
}

// health is name's /healthz.
func (h *nodeHerd) health(t *testing.T, name string) node.Health {
	t.Helper()
	n, _ := h.hf.Node(name)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.Monitor + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hz node.Health
	if err := json.NewDecoder(resp.Body).Decode(&hz); err != nil {
		t.Fatal(err)
	}
	return hz
}

// waitUnreachable polls name's /healthz until the herd peers it has no
// route to are exactly peers, and returns how long that took.
func (h *nodeHerd) waitUnreachable(t *testing.T, name string, peers ...string) time.Duration {
	t.Helper()
	slices.Sort(peers)
	return wait.Check(t, 20*time.Second, fmt.Sprintf("%s without routes to exactly %v", name, peers), func() error {
		if got := h.health(t, name).UnreachablePeers; !slices.Equal(got, peers) {
			return fmt.Errorf("no route to %v", got)
		}
		return nil
	})
}

// whatsat is the first line name answers WHATSAT client with ("?..." when
// it has no record).
func (h *nodeHerd) whatsat(t *testing.T, name, client string) string {
	t.Helper()
	return firstLine(talk(t, h.client(name), "WHATSAT "+client+" 1 1"))
}

// Five separate `herd node --chaos` processes: herd chaos, through
// Goloman, partitions {Goloman, Hands, Wilkes} from {Holiday, Welsh}. An
// IAMAT at Welsh reaches Holiday and stays away from Goloman while the
// partition lasts, and is at Goloman at most 2 s after heal-all returns.
// herd chaos refuses to run without credentials and is refused with a
// wrong password, both with a clear error; a cut --for a while heals by
// itself; a node stopped through another is started through it again,
// though the cluster no longer reaches it. No node logs an error meanwhile.
func TestNodeChaos_fiveProcesses(t *testing.T) {
	h := startNodes(t, herdFile(t, true))
	server := h.server("Goloman")

	out, err := herdChaos(t, nil, server, "status")
	if err == nil || !strings.Contains(out, "no credentials") || !strings.Contains(out, "HERD_SYSTEM_PASSWORD") {
		t.Errorf("herd chaos without credentials: %q, %v; want an error naming HERD_SYSTEM_PASSWORD", out, err)
	}
	out, err = herdChaos(t, []string{"HERD_SYSTEM_PASSWORD=not-the-password"}, server, "status")
	if err == nil || !strings.Contains(out, "wrong system password") {
		t.Errorf("herd chaos with a wrong password: %q, %v; want it refused, saying so", out, err)
	}
	out, err = herdChaos(t, []string{"NATS_USER=sys", "NATS_PASSWORD=" + chaosPassword}, server, "status")
	if err != nil || !strings.Contains(out, "cut: \n") {
		t.Errorf("herd chaos status with NATS_USER/NATS_PASSWORD: %q, %v", out, err)
	}
	for _, n := range h.hf.Names() {
		if !strings.Contains(out, "\n"+n+" ") || !strings.Contains(out, "running") {
			t.Errorf("status lists no running %s:\n%s", n, out)
		}
	}

	left, right := []string{"Goloman", "Hands", "Wilkes"}, []string{"Holiday", "Welsh"}
	mustChaos(t, server, "partitioned", "partition", strings.Join(left, ","), strings.Join(right, ","))
	settled := h.waitUnreachable(t, "Welsh", left...)
	h.waitUnreachable(t, "Goloman", right...)
	t.Logf("partition settled %v after herd chaos returned", settled.Round(time.Millisecond))
	at := strings.TrimSuffix(talk(t, h.client("Welsh"), fmt.Sprintf("IAMAT partitioned +1+1 %d", time.Now().Unix())), "\n")
	if !strings.HasPrefix(at, "AT Welsh ") {
		t.Fatalf("IAMAT at Welsh: %q", at)
	}
	if got := firstLine(waitWhatsat(t, h.client("Holiday"), "partitioned")); got != at {
		t.Fatalf("Holiday, on Welsh's side, holds %q, want %q", got, at)
	}
	// However long the flood and anti-entropy have on Welsh's side,
	// nothing crosses to Goloman's.
	for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(100 * time.Millisecond) {
		for _, n := range left {
			if got := h.whatsat(t, n, "partitioned"); !strings.HasPrefix(got, "? ") {
				t.Fatalf("%s answered %q during the partition: the record crossed it", n, got)
			}
		}
	}

	mustChaos(t, server, "healed every route", "heal-all")
	healed := time.Now()
	for h.whatsat(t, "Goloman", "partitioned") != at {
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("Goloman lacks Welsh's record 10 s after heal-all")
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(healed)
	t.Logf("Welsh's record at Goloman %v after heal-all returned", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("Welsh's record reached Goloman %v after heal-all, want at most 2 s", took)
	}
	h.waitUnreachable(t, "Goloman")

	// A cut for a while: listed with what it has left, then gone by itself.
	const cutFor = 4 * time.Second
	cutAt := time.Now()
	mustChaos(t, server, "cut Goloman–Hands for 4s", "cut", "Goloman", "Hands", "--for", cutFor.String())
	h.waitUnreachable(t, "Goloman", "Hands")
	if out := mustChaos(t, server, "cut: Goloman–Hands\n", "status"); !cutAgeRE.MatchString(out) {
		t.Errorf("status of a cut --for %v does not give Goloman's cut of Hands its age and what it has left:\n%s", cutFor, out)
	}
	h.waitUnreachable(t, "Goloman")
	back := time.Since(cutAt)
	t.Logf("Goloman–Hands back by itself %v after herd chaos was run to cut it for %v", back.Round(time.Millisecond), cutFor)
	if back < cutFor {
		t.Errorf("a cut for %v healed after %v", cutFor, back)
	}
	mustChaos(t, server, "cut: \n", "status")

	// Stopped through Goloman, Welsh is reached through its own NATS port
	// to start it again.
	mustChaos(t, server, "stopped Welsh", "stop", "Welsh")
	h.waitUnreachable(t, "Goloman", "Welsh")
	if out := talkErr(h.client("Welsh"), "WHATSAT partitioned 1 1"); out != "" {
		t.Fatalf("stopped Welsh answered %q", out)
	}
	if out := mustChaos(t, server, "stopped: Welsh (", "status"); !stoppedAgeRE.MatchString(out) {
		t.Errorf("status does not give stopped Welsh its age:\n%s", out)
	}
	select {
	case <-h.procs["Welsh"].exited:
		t.Fatalf("herd chaos stop ended Welsh's process: %v", h.procs["Welsh"].waitErr)
	default: // a pause: the process stays
	}
	mustChaos(t, server, "started Welsh", "start", "Welsh")
	h.waitUnreachable(t, "Goloman")
	if got := h.whatsat(t, "Welsh", "partitioned"); got != at {
		t.Errorf("started Welsh answers %q, want %q", got, at)
	}

	// Quiet but for the one refused login, which Goloman reports.
	for _, n := range h.hf.Names() {
		p := h.procs[n]
		p.stop(t)
		refused := `authentication error - User \"sys\"`
		if got, want := strings.Count(p.stderr.String(), refused), map[bool]int{true: 1}[n == "Goloman"]; got != want {
			t.Errorf("%s logged %q %d times, want %d (the wrong password, at the node herd chaos dialled)", n, refused, got, want)
		}
		p.wantQuiet(t, refused)
	}
}

// The ages herd chaos status prints: a cut with what it has left, and a
// stopped node.
var (
	cutAgeRE     = regexp.MustCompile(`(?m)^Goloman +running +\S+ +Hands \(\d[\d.]*[mµn]?s, \d[\d.]*[mµn]?s left\)`)
	stoppedAgeRE = regexp.MustCompile(`(?m)^stopped: Welsh \(\d[\d.]*[mµn]?s\)$`)
)

// A node with chaos on and no system password refuses to start, naming
// the setting: nobody could reach its chaos service.
func TestNode_chaosNeedsSystemUser(t *testing.T) {
	code, _, errOut := runBin(t, []string{"HERD_SYSTEM_PASSWORD="}, "node", "--config", herdFile(t, false), "--name", "Goloman", "--chaos")
	if code != 1 || !strings.Contains(errOut, "auth.system: chaos needs the system user") || !strings.Contains(errOut, "HERD_SYSTEM_PASSWORD") {
		t.Errorf("herd node --chaos without a system password: exit %d, %q", code, errOut)
	}
}
