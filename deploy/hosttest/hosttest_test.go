package hosttest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// lab is the running five-host herd.
type lab struct {
	t     *testing.T
	net   *Lab
	bin   string
	file  string
	env   []string
	mu    sync.Mutex // guards procs
	procs map[string]*nodeProc
}

type nodeProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	out    bytes.Buffer // stderr
	stdout syncWriter   // lines printed, for waitOut
}

// TestFiveHosts runs deploy/hosts/herd.yaml on five network namespaces with
// TLS and authenticated routes: floods across hosts, survives a cut link
// and heals it, and a host stopped and restarted catches up.
func TestFiveHosts(t *testing.T) {
	requireLab(t)
	began := time.Now()
	Sweep(prefixBase)
	dir := t.TempDir()

	bin := filepath.Join(dir, "herd")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/herd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build herd: %v\n%s", err, out)
	}

	names := []string{"goloman.herd", "hands.herd", "holiday.herd", "welsh.herd", "wilkes.herd", "sixth.herd"}
	nl, err := NewLab(fmt.Sprintf("%s%d-", prefixBase, os.Getpid()), names)
	t.Cleanup(nl.Close) // even when NewLab failed half way
	if err != nil {
		t.Fatal(err)
	}

	// The deploy file, with its systemd credential paths pointed at a PKI
	// made here.
	pki := filepath.Join(dir, "tls")
	if err := os.Mkdir(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	byNode := map[string]Host{}
	for n, h := range nodeHosts {
		byNode[n] = nl.Host(h)
	}
	if err := WritePKI(pki, byNode); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../hosts/herd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	herd := strings.NewReplacer(
		"/run/credentials/herd-node@{node}.service/route-ca.pem", filepath.Join(pki, "ca.pem"),
		"/run/credentials/herd-node@{node}.service/route-cert.pem", filepath.Join(pki, "{node}.pem"),
		"/run/credentials/herd-node@{node}.service/route-key.pem", filepath.Join(pki, "{node}-key.pem"),
		"dir: /var/lib/herd", "dir: "+filepath.Join(dir, "data"), // the unit's StateDirectory
	).Replace(string(src))
	file := filepath.Join(dir, "herd.yaml")
	if err := os.WriteFile(file, []byte(herd), 0o600); err != nil {
		t.Fatal(err)
	}

	l := &lab{t: t, net: nl, bin: bin, file: file, procs: map[string]*nodeProc{},
		env: []string{"HERD_ROUTE_PASSWORD=route-secret-for-the-lab", "HERD_SYSTEM_PASSWORD=sys-secret-for-the-lab"}}
	t.Cleanup(l.stopAll)
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
	if err := os.WriteFile(file, []byte(six), 0o600); err != nil {
		t.Fatal(err)
	}
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

	// Remove it again: the others reload the five-host file, then it stops.
	l.reloadAll(five, "Goloman", "Hands", "Holiday", "Welsh", "Wilkes")
	l.stop("Sixth")
	l.waitHealth("Welsh", true) // no longer waits for Sixth

	for _, n := range []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"} {
		l.stop(n)
	}
	t.Logf("five-host test took %s", time.Since(began).Round(time.Millisecond))
}

func (l *lab) host(node string) Host { return l.net.Host(nodeHosts[node]) }

// start runs `herd node` for node inside its host's namespace.
func (l *lab) start(node string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.host(node).NS, l.bin, "node", "--config", l.file, "--name", node)
	cmd.Env = append(os.Environ(), l.env...)
	p := &nodeProc{cmd: cmd, exited: make(chan struct{}), stdout: syncWriter{w: &bytes.Buffer{}}}
	cmd.Stderr = &syncWriter{w: &p.out}
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
	if err := os.WriteFile(l.file, []byte(data), 0o600); err != nil {
		l.t.Fatal(err)
	}
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
	return p.cmd.Stderr.(*syncWriter).String()
}

// talk sends one line to node's client port from inside its host, half
// closes, and returns the whole reply.
func (l *lab) talk(node, line string) string {
	l.t.Helper()
	h := l.host(node)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := h.Dial(ctx, "tcp", net.JoinHostPort(h.IP, "12001"))
	if err != nil {
		l.t.Fatalf("dial %s: %v", node, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "%s\n", line)
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		l.t.Fatalf("read from %s: %v", node, err)
	}
	return string(out)
}

func (l *lab) iamat(node, client, loc string) string {
	l.t.Helper()
	out := l.talk(node, fmt.Sprintf("IAMAT %s %s %d.%09d", client, loc, time.Now().Unix(), time.Now().Nanosecond()))
	if !strings.HasPrefix(out, "AT "+node+" ") {
		l.t.Fatalf("IAMAT at %s: %q", node, out)
	}
	return strings.TrimSuffix(out, "\n")
}

// whatsatLine is the AT line node answers WHATSAT client with.
func (l *lab) whatsatLine(node, client string) string {
	l.t.Helper()
	return firstLine(l.talk(node, "WHATSAT "+client+" 1 1"))
}

func (l *lab) waitEverywhere(client, at string) {
	l.t.Helper()
	l.waitOn(client, at, "Goloman", "Hands", "Holiday", "Welsh", "Wilkes")
}

// waitOn polls WHATSAT on each node until it answers with the AT line.
func (l *lab) waitOn(client, at string, nodes ...string) {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			out := l.talk(n, fmt.Sprintf("WHATSAT %s 1 1", client))
			if strings.HasPrefix(out, at+"\n") {
				break
			}
			if time.Now().After(deadline) {
				l.t.Fatalf("%s answers %q for %s, want %q", n, firstLine(out), client, at)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitHealth polls node's /healthz (all neighbor routes up) until it says
// healthy, or unhealthy.
func (l *lab) waitHealth(node string, healthy bool) {
	l.t.Helper()
	h := l.host(node)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.Dial, DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + net.JoinHostPort(h.IP, "18222") + "/healthz")
		if err == nil {
			resp.Body.Close()
			if (resp.StatusCode == http.StatusOK) == healthy {
				return
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s /healthz never became healthy=%v (last: %v)", node, healthy, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// syncWriter lets a process write stderr while the test reads it.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Reset()
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
