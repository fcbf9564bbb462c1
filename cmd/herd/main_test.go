package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/node/nodetest/logbuf"
)

// herdBin is the herd binary built once for the tests that run it as a
// subprocess, as users do.
var herdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	herdBin = filepath.Join(dir, "herd")
	build := exec.Command("go", "build", "-race", "-o", herdBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build herd:", err)
		os.Exit(1)
	}
	// The race runtime sleeps a second at every exit (for other threads'
	// reports to come out); the herd's own stop is what the tests time.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	// The in-process parts (the bench client, the chaos driver, herd
	// client) must leave no goroutine behind once their command returns.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:1\d{4}`)

// herdFile is the built-in herd file with every port replaced: by 0, or by
// free ports when the nodes run as separate processes and must know each
// other's route address in advance.
func herdFile(t *testing.T, freePorts bool) string {
	t.Helper()
	src := string(deploy.DefaultHerdFile())
	free := freeAddrs(t, len(portRE.FindAllString(src, -1)))
	data := portRE.ReplaceAllStringFunc(src, func(string) string {
		if !freePorts {
			return "127.0.0.1:0"
		}
		a := free[0]
		free = free[1:]
		return a
	})
	path := filepath.Join(t.TempDir(), "herd.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddrs returns n distinct free loopback addresses. Every port is held
// until all are chosen, so the OS cannot hand out one twice; the processes
// bind them after they are released. The ports are below Linux's ephemeral
// range (32768 and up), so no outgoing connection takes one as its source
// port while a node restarts on it (herd chaos stop/start).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free ports below 32768 after %d tries", tries)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue // taken
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// proc is a herd subprocess whose stdout is scanned line by line.
type proc struct {
	cmd     *exec.Cmd
	lines   chan string
	exited  chan struct{} // closed when Wait returned; then waitErr is set
	waitErr error
	// stdout and stderr are all the output so far, complete once exited
	// is closed.
	stdout, stderr logbuf.Buffer
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, args...)
}

// startProcEnv starts herd with env added to this process's environment.
func startProcEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(herdBin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1000), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.stdout.WriteString(sc.Text() + "\n")
			select {
			case p.lines <- sc.Text():
			default: // nobody is reading any more
			}
		}
		close(p.lines)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited // stderr is complete only then
		if t.Failed() {
			t.Logf("herd %v stderr:\n%s", args, p.stderr.String())
		}
	})
	return p
}

// waitLine returns the first output line matching re.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("herd exited before printing %v", re)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("herd did not print %v", re)
		}
	}
}

// stop sends SIGTERM and wants exit status 0 within 5 s: a clean stop.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			t.Fatalf("herd exited with %v after SIGTERM, want status 0", p.waitErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("herd did not exit within 5 s of SIGTERM")
	}
}

// wantQuiet wants no error-level line in the process's log so far, but
// those containing one of expected.
func (p *proc) wantQuiet(t *testing.T, expected ...string) {
	t.Helper()
	var errs []string
	for line := range strings.Lines(p.stderr.String()) {
		if strings.Contains(line, "level=ERROR") && !slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(line, e) }) {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	if len(errs) > 0 {
		t.Errorf("herd %v logged %d error lines:\n%s", p.cmd.Args[1:], len(errs), strings.Join(errs, "\n"))
	}
}

// stopQuietly is stop, and wants no error-level line in the log: a clean
// stop is quiet.
func (p *proc) stopQuietly(t *testing.T) {
	t.Helper()
	p.stop(t)
	p.wantQuiet(t)
}

// talk sends lines to a client port, half-closes and returns all replies.
func talk(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(c, strings.Join(lines, "\n")+"\n")
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// waitWhatsat polls WHATSAT at addr until the record has arrived there.
func waitWhatsat(t *testing.T, addr, client string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := talk(t, addr, fmt.Sprintf("WHATSAT %s 10 5", client))
		if !strings.HasPrefix(out, "? ") {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("WHATSAT %s at %s: %q", client, addr, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var tableRE = regexp.MustCompile(`^(\w+)\s+(127\.0\.0\.1:\d+)\s+nats://`)

// startUp runs herd up on the built-in herd file with every port 0, and
// returns it once up with each node's client address.
func startUp(t *testing.T) (*proc, map[string]string) {
	t.Helper()
	p := startProc(t, "up", "--config", herdFile(t, false))
	p.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
	addrs := map[string]string{}
	for len(addrs) < 5 {
		m := p.waitLine(t, tableRE)
		addrs[m[1]] = m[2]
	}
	return p, addrs
}

// herd up runs the default topology in one process: an IAMAT at Goloman is
// answered by WHATSAT at Welsh with Goloman's AT line and offline places
// near the client; SIGTERM stops it with status 0.
func TestHerdUp(t *testing.T) {
	p, addrs := startUp(t)
	at := talk(t, addrs["Goloman"], "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503")
	if !strings.HasPrefix(at, "AT Goloman ") {
		t.Fatalf("IAMAT reply %q", at)
	}
	out := waitWhatsat(t, addrs["Welsh"], "kiwi.cs.ucla.edu")
	if !strings.HasPrefix(out, at) {
		t.Fatalf("WHATSAT at Welsh starts %q, want Goloman's line %q", firstLine(out), at)
	}
	for _, name := range []string{"Santa Monica", "Culver City", `"status": "OK"`} {
		if !strings.Contains(out, name) {
			t.Errorf("WHATSAT near UCLA lacks %s:\n%s", name, out)
		}
	}
	if !strings.HasSuffix(out, "}\n\n") {
		t.Errorf("WHATSAT reply does not end in }\\n\\n")
	}
	p.stopQuietly(t)
}

// herd up, with some traffic flooded through the herd, then SIGTERM: it
// exits 0 within 5 s and logs no error as its nodes stop one after
// another (their neighbors' routes going away are not errors). Three
// runs: the noise it replaces came in most, not all, runs.
func TestHerdUp_StopIsQuiet(t *testing.T) {
	for run := range 3 {
		p, addrs := startUp(t)
		for i, name := range []string{"Goloman", "Welsh", "Hands"} {
			talk(t, addrs[name], fmt.Sprintf("IAMAT quiet-%d-%d +1+1 1621464827", run, i))
		}
		waitWhatsat(t, addrs["Welsh"], fmt.Sprintf("quiet-%d-2", run))
		p.stopQuietly(t)
	}
}

// Five herd node processes from one herd file form the same herd, and
// stop one by one: each exits 0 within 5 s, and no process logs an error
// — not at start, while neighbors are not up yet, and not while a
// neighbor that went away stays away and is redialled.
func TestHerdNode_FiveProcesses(t *testing.T) {
	file := herdFile(t, true)
	addrs := map[string]string{}
	var procs []*proc
	for _, name := range []string{"Welsh", "Goloman", "Wilkes", "Hands", "Holiday"} { // any order
		p := startProc(t, "node", "--config", file, "--name", name)
		m := p.waitLine(t, regexp.MustCompile(`^node (\w+) up: client (\S+),`))
		addrs[m[1]] = strings.TrimSuffix(m[2], ",")
		procs = append(procs, p)
	}
	// Core NATS is at-most-once: write only once every route is up.
	for _, p := range procs {
		p.waitLine(t, regexp.MustCompile(`^node \w+ joined the herd: 4 peers`))
	}
	for i, origin := range []string{"Hands", "Welsh"} {
		client := "proc-client-" + origin
		at := talk(t, addrs[origin], fmt.Sprintf("IAMAT %s -33.8688+151.2093 162146482%d", client, i))
		if !strings.HasPrefix(at, "AT "+origin+" ") {
			t.Fatalf("IAMAT at %s: %q", origin, at)
		}
		for name, addr := range addrs {
			if out := waitWhatsat(t, addr, client); !strings.HasPrefix(out, at) {
				t.Fatalf("WHATSAT at %s: %q, want %q first", name, firstLine(out), at)
			}
		}
	}
	for _, p := range procs {
		p.stop(t)
		// Long enough for the others to redial it and find nobody.
		time.Sleep(1500 * time.Millisecond)
	}
	for _, p := range procs {
		p.wantQuiet(t)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// runCLI runs the command line in-process.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, e, args)
	return code, out.String(), errb.String()
}

func TestRun_HelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"up", "--help"}, {"client", "--help"}} {
		code, out, _ := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "Usage: herd") {
			t.Errorf("herd %v: code %d, output %q", args, code, out)
		}
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "herd ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "", "bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "node", "--name", "Goloman"); code != 2 || !strings.Contains(errOut, "--config") {
		t.Errorf("node without --config: code %d, %q", code, errOut)
	}
}

// herd client sends its arguments, or standard input, and prints every
// reply; a node name resolves through the herd file.
func TestRun_Client(t *testing.T) {
	addr := echoServer(t)
	if code, out, errOut := runCLI(t, "", "client", addr, "HELLO", "WORLD"); code != 0 || out != "? HELLO\n? WORLD\n" {
		t.Errorf("args: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "A\nB", "client", addr); code != 0 || out != "? A\n? B\n" {
		t.Errorf("stdin: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "client", "Nobody"); code != 1 || !strings.Contains(errOut, "Goloman") {
		t.Errorf("unknown node: %d %q", code, errOut)
	}
}
