package hosttest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdhq/herd/node/nodetest/logbuf"
)

// nodeHosts maps the five nodes of deploy/hosts/herd.yaml to host names.
var nodeHosts = map[string]string{
	"Goloman": "goloman.herd", "Hands": "hands.herd", "Holiday": "holiday.herd",
	"Welsh": "welsh.herd", "Wilkes": "wilkes.herd", "Sixth": "sixth.herd",
}

// sixthNode is what an operator appends to the herd file to add a sixth
// host next to Welsh (whose neighbors then include it).
const sixthNode = `
  - name: Sixth
    client: sixth.herd:12001
    nats: sixth.herd:14222
    cluster: sixth.herd:16222
    monitor: sixth.herd:18222
    neighbors: [Welsh]
`

const prefixBase = "herdt"

func requireLab(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (network namespaces)"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs iproute2 (ip)"
	}
	if why == "" {
		return
	}
	if os.Getenv("HERD_REQUIRE_NETNS") == "1" {
		t.Fatalf("five-host test %s, and HERD_REQUIRE_NETNS=1", why)
	}
	t.Skipf("five-host test %s; run as root with iproute2 (CI sets HERD_REQUIRE_NETNS=1)", why)
}

// lab is the running herd of deploy/hosts/herd.yaml.
type lab struct {
	t      *testing.T
	began  time.Time
	net    *Lab
	byNode map[string]Host
	bin    string
	pki    string // CA, and <node>.pem and <node>-key.pem of every node
	herd   string // the shipped herd file's text
	file   string // the herd file the nodes read: the shipped one, copied
	env    []string
	mu     sync.Mutex // guards procs
	procs  map[string]*nodeProc
}

type nodeProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	out    logbuf.Buffer // stderr
	stdout logbuf.Buffer // lines printed, for waitOut
}

// newLab builds herd, makes the six hosts' namespaces and the herd's PKI,
// and installs deploy/hosts/herd.yaml unchanged, as an operator copies it
// to /etc/herd/herd.yaml.
func newLab(t *testing.T) *lab {
	requireLab(t)
	l := &lab{t: t, began: time.Now(), procs: map[string]*nodeProc{}, byNode: map[string]Host{},
		env: []string{"HERD_ROUTE_PASSWORD=route-secret-for-the-lab", "HERD_SYSTEM_PASSWORD=sys-secret-for-the-lab"}}
	Sweep(prefixBase)
	dir := t.TempDir()
	l.bin = filepath.Join(dir, "herd")
	build := exec.Command("go", "build", "-o", l.bin, "../../cmd/herd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build herd: %v\n%s", err, out)
	}
	names := []string{"goloman.herd", "hands.herd", "holiday.herd", "welsh.herd", "wilkes.herd", "sixth.herd"}
	nl, err := NewLab(fmt.Sprintf("%s%d-", prefixBase, os.Getpid()), names)
	t.Cleanup(nl.Close) // even when NewLab failed half way
	if err != nil {
		t.Fatal(err)
	}
	l.net = nl
	l.pki = filepath.Join(dir, "tls")
	if err := os.Mkdir(l.pki, 0o700); err != nil {
		t.Fatal(err)
	}
	for n, h := range nodeHosts {
		l.byNode[n] = nl.Host(h)
	}
	if err := WritePKI(l.pki, l.byNode); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../hosts/herd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l.herd = string(src)
	l.file = filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(l.file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.stopAll)
	return l
}

// TestFiveHosts runs deploy/hosts/herd.yaml, byte for byte, on five
// network namespaces with TLS and authenticated routes, each node's route
// TLS files in its own credentials directory as systemd hands them over:
// floods across hosts, survives a cut link (a route dropped with ip) and
// heals it, is partitioned and healed by herd chaos and has a node
// stopped and started by it, a host stopped and restarted catches up,
// and a sixth host added and removed by SIGHUP is dialled no more once
// removed.
func TestFiveHosts(t *testing.T) {
	l := newLab(t)
	began := l.began
	byNode := l.byNode
	nl := l.net
	herd := l.herd
	for _, n := range []string{"Welsh", "Wilkes", "Goloman", "Holiday", "Hands"} { // any order
		l.start(n)
	}
	for _, n := range []string{"Welsh", "Wilkes", "Goloman", "Holiday", "Hands"} {
		l.waitJoined(n)
	}
	t.Logf("five hosts joined after %s", time.Since(began).Round(time.Millisecond))

	// Floods across hosts, WHATSAT answered far away.
	at := l.iamat("Goloman", "kiwi.cs.ucla.edu", "+34.068930-118.445127")
	l.waitEverywhere("kiwi.cs.ucla.edu", at)
	if out := l.talk("Welsh", "WHATSAT kiwi.cs.ucla.edu 10 3"); !strings.Contains(out, "Santa Monica") {
		t.Fatalf("WHATSAT at Welsh: %q", out)
	}
	at = l.iamat("Welsh", "sydney", "-33.8688+151.2093")
	l.waitEverywhere("sydney", at)

	// Cut the Goloman–Hands link: Hands's record still reaches every host
	// (through Wilkes); heal: the routes come back.
	if err := nl.Cut(byNode["Goloman"], byNode["Hands"]); err != nil {
		t.Fatal(err)
	}
	l.waitHealth("Hands", false)
	at = l.iamat("Hands", "during-cut", "+1+1")
	l.waitEverywhere("during-cut", at)
	if err := nl.Heal(byNode["Goloman"], byNode["Hands"]); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	l.waitHealth("Hands", true)
	l.waitHealth("Goloman", true)
	t.Logf("Goloman–Hands routes back %s after the heal", time.Since(healed).Round(time.Millisecond))

	// The same by herd chaos, from Goloman's host, through the route TLS
	// and auth the file ships with: {Goloman, Hands, Wilkes} and
	// {Holiday, Welsh} apart. An IAMAT at Welsh reaches Holiday, not
	// Goloman, until heal-all, then Goloman within 2 s.
	l.chaos("Goloman", "partitioned", "partition", "Goloman,Hands,Wilkes", "Holiday,Welsh")
	l.waitUnreachable("Welsh", "Goloman", "Hands", "Wilkes")
	l.waitUnreachable("Goloman", "Holiday", "Welsh")
	at = l.iamat("Welsh", "across-partition", "+5+5")
	l.waitOn("across-partition", at, "Holiday")
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(100 * time.Millisecond) {
		if got := l.whatsatLine("Goloman", "across-partition"); !strings.HasPrefix(got, "? ") {
			t.Fatalf("Goloman answered %q during the partition: the record crossed it", got)
		}
	}
	l.chaos("Goloman", "healed every route", "heal-all")
	healed = time.Now()
	l.waitOn("across-partition", at, "Goloman")
	if took := time.Since(healed); took > 2*time.Second {
		t.Errorf("Welsh's record reached Goloman %v after heal-all, want at most 2 s", took)
	} else {
		t.Logf("Welsh's record at Goloman %v after heal-all", took.Round(time.Millisecond))
	}
	l.waitUnreachable("Goloman")
	// Stopped through Goloman, Welsh is started through it again: the
	// cluster no longer reaches Welsh, herd chaos dials welsh.herd's NATS
	// port.
	l.chaos("Goloman", "stopped Welsh", "stop", "Welsh")
	l.waitUnreachable("Holiday", "Welsh")
	l.chaos("Goloman", "stopped: Welsh (", "status")
	l.chaos("Goloman", "started Welsh", "start", "Welsh")
	l.waitUnreachable("Holiday")
	l.waitHealth("Welsh", true)

	// Stop Holiday (Welsh's only neighbor), write meanwhile, restart it:
	// Holiday and Welsh catch up.
	l.stop("Holiday")
	at = l.iamat("Goloman", "while-holiday-down", "+2+2")
	l.waitOn("while-holiday-down", at, "Goloman", "Hands", "Wilkes")
	l.start("Holiday")
	restarted := time.Now()
	l.waitJoined("Holiday")
	l.waitOn("while-holiday-down", at, "Holiday", "Welsh")
	t.Logf("Holiday and Welsh caught up %s after Holiday restarted", time.Since(restarted).Round(time.Millisecond))

	// Add a sixth host without restarting any: start it with the new herd
	// file, then every running node reloads it (SIGHUP); Welsh adopts it,
	// anti-entropy gives it every record, the flood reaches it from then on.
	five := herd
	six := strings.Replace(five, "    neighbors: [Holiday]\n", "    neighbors: [Holiday, Sixth]\n", 1) + sixthNode
	if six == five+sixthNode {
		t.Fatal("could not add Sixth to Welsh's neighbors in the herd file")
	}
	l.writeHerdFile(six)
	l.start("Sixth")
	added := time.Now()
	l.reloadAll(six, "Goloman", "Hands", "Holiday", "Welsh", "Wilkes")
	l.waitJoined("Sixth")
	l.waitOn("kiwi.cs.ucla.edu", l.whatsatLine("Goloman", "kiwi.cs.ucla.edu"), "Sixth")
	l.waitOn("while-holiday-down", l.whatsatLine("Goloman", "while-holiday-down"), "Sixth")
	t.Logf("Sixth held the older records %s after it started", time.Since(added).Round(time.Millisecond))
	at = l.iamat("Wilkes", "after-sixth", "+3+3")
	l.waitOn("after-sixth", at, "Sixth")
	at = l.iamat("Sixth", "from-sixth", "+4+4")
	l.waitEverywhere("from-sixth", at)

	// Remove it again, seconds after it joined (its route pools may still
	// be filling): the others reload the five-host file and drop it once
	// their routes to it are quiet, saying so once each; Sixth keeps
	// running (and dialling them, refused) until it is stopped, and nobody
	// dials it meanwhile.
	l.reloadAll(five, "Goloman", "Hands", "Holiday", "Welsh", "Wilkes")
	for _, n := range []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"} {
		if got := strings.Count(l.proc(n).stdout.String(), "removed peers [Sixth]"); got != 1 {
			t.Errorf("%s said %d times that Sixth was removed, want once:\n%s", n, got, l.proc(n).stdout.String())
		}
	}
	l.waitUnreachable("Sixth", "Goloman", "Hands", "Holiday", "Welsh", "Wilkes")
	// From now on no connection may reach Sixth's host at all (so nothing
	// here talks to it either): its TCP passive opens must not move.
	quiet := 5 * time.Second
	opens := l.passiveOpens("Sixth")
	for start := time.Now(); time.Since(start) < quiet; time.Sleep(100 * time.Millisecond) {
		if n := l.passiveOpens("Sixth") - opens; n != 0 {
			t.Fatalf("Sixth was dialled %d times within %v after the others dropped it, want never", n, time.Since(start).Round(time.Millisecond))
		}
	}
	l.stop("Sixth")
	l.waitHealth("Welsh", true) // no longer waits for Sixth

	for _, n := range []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"} {
		l.stop(n)
	}
	t.Logf("five-host test took %s", time.Since(began).Round(time.Millisecond))
}

func (l *lab) host(node string) Host { return l.byNode[node] }

// credentials is what the wrapper around herd does before it runs it,
// as systemd does for the unit (LoadCredential): in the host's own mount
// namespace (ip netns exec makes one per process), a fresh /run and the
// node's credentials directory on a tmpfs of its own, holding the CA and
// the certificate and key of node $3 (its own, or another's in a test),
// read-only; and, as StateDirectory=herd, /var/lib/herd the node's own
// (a directory of the lab's, beside the PKI, kept across restarts). Then
// it becomes herd itself (same pid, signals reach it).
// $1 is the node, $2 the PKI directory, the rest herd's command line.
const credentials = `mount -t tmpfs -o mode=0755 herd-run /run
s="$(dirname "$2")/state/$1"
mkdir -p "$s/herd"
mount --bind "$s" /var/lib
d="/run/credentials/herd-node@$1.service"
mkdir -p "$d"
mount -t tmpfs -o mode=0700 herd-creds "$d"
cp "$2/ca.pem" "$d/route-ca.pem"
cp "$2/$3.pem" "$d/route-cert.pem"
cp "$2/$3-key.pem" "$d/route-key.pem"
chmod 0400 "$d"/*
shift 3
exec "$@"`

// chaos runs `herd chaos` in from's host against its node's NATS port and
// wants want in its output.
func (l *lab) chaos(from, want string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.host(from).NS, l.bin, "chaos",
		"--server", "nats://" + nodeHosts[from] + ":14222"}, args...)...)
	cmd.Env = append(os.Environ(), l.env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		l.t.Fatalf("herd chaos %v from %s: %q, %v; want %q", args, from, out, err, want)
	}
	return string(out)
}

// start runs `herd node` for node inside its host's namespace.
func (l *lab) start(node string) { l.startWith(node, node) }

// startWith runs node with the certificate and key of certOf and env added
// to the lab's environment (a later value wins). Every node runs with
// chaos on (--chaos: the hosts file stays as shipped), for herd chaos.
func (l *lab) startWith(node, certOf string, env ...string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.host(node).NS, "sh", "-ec", credentials, "herd-credentials",
		node, l.pki, certOf, l.bin, "node", "--config", l.file, "--name", node, "--chaos")
	cmd.Env = append(append(os.Environ(), l.env...), env...)
	p := &nodeProc{cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &p.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.stdout.Write([]byte(sc.Text() + "\n"))
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	l.mu.Lock()
	l.procs[node] = p
	l.mu.Unlock()
}

func (l *lab) proc(node string) *nodeProc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[node]
}

func (l *lab) waitJoined(node string) { l.waitOut(node, `joined the herd: \d+ peers`) }

// waitOut waits until node has printed a line matching re.
func (l *lab) waitOut(node, re string) {
	l.t.Helper()
	p := l.proc(node)
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for !rx.MatchString(p.stdout.String()) {
		select {
		case <-p.exited:
			l.t.Fatalf("%s exited before printing %q: %v\n%s", node, re, p.err, p.stderr())
		default:
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s did not print %q\n%s", node, re, p.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reloadAll rewrites the herd file and sends SIGHUP to every running node.
func (l *lab) reloadAll(data string, nodes ...string) {
	l.t.Helper()
	l.writeHerdFile(data)
	for _, n := range nodes {
		p := l.proc(n)
		p.stdout.Reset()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			l.t.Fatal(err)
		}
	}
	for _, n := range nodes {
		l.waitOut(n, `reloaded the herd file`)
	}
}

// writeHerdFile replaces the herd file as an editor or a deploy tool does:
// aside, then renamed over it, so that a node starting or reloading at that
// moment reads the old file or the new one, never a truncated one.
func (l *lab) writeHerdFile(data string) {
	l.t.Helper()
	tmp := l.file + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.file); err != nil {
		l.t.Fatal(err)
	}
}

// stop sends SIGTERM and wants a clean exit.
func (l *lab) stop(node string) {
	l.t.Helper()
	p := l.proc(node)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			l.t.Fatalf("%s exited with %v after SIGTERM\n%s", node, p.err, p.stderr())
		}
	case <-time.After(30 * time.Second):
		l.t.Fatalf("%s did not stop", node)
	}
}

func (l *lab) stopAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n, p := range l.procs {
		p.cmd.Process.Kill()
		<-p.exited
		if l.t.Failed() {
			l.t.Logf("%s stderr:\n%s", n, p.stderr())
		}
	}
}

func (p *nodeProc) stderr() string {
	return p.out.String()
}
