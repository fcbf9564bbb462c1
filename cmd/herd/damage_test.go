package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/herdhq/herd/node/nodetest/wait"
)

// soloHerdFile is a herd of one node on port 0.
func soloHerdFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "solo.yaml")
	err := os.WriteFile(path, []byte(`nodes:
  - name: Solo
    client: 127.0.0.1:0
    nats: 127.0.0.1:0
    cluster: 127.0.0.1:0
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// files lists dir's files matching pattern, sorted.
func files(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// inLog waits until s is in one of dir's log segments (the writer has
// handed it to the OS), and returns that segment.
func inLog(t *testing.T, dir, s string) string {
	t.Helper()
	var seg string
	wait.For(t, s+" in a log segment", func() bool {
		for _, f := range files(t, dir, "*.log") {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(s)) {
				seg = f
				return true
			}
		}
		return false
	})
	return seg
}

// iamats sends IAMATs for clients prefix0..prefix<n-1> and wants every reply.
func iamats(t *testing.T, addr, prefix string, n int) []string {
	t.Helper()
	var lines, clients []string
	for i := range n {
		clients = append(clients, fmt.Sprintf("%s%d", prefix, i))
		lines = append(lines, fmt.Sprintf("IAMAT %s +1+1 1621464827", clients[i]))
	}
	if out := talk(t, addr, lines...); strings.Count(out, "AT Solo ") != n {
		t.Fatalf("IAMAT replies %q", out)
	}
	return clients
}

// held lists which of clients addr holds.
func held(t *testing.T, addr string, clients []string) []string {
	t.Helper()
	got := storedTimes(t, addr, clients)
	var out []string
	for _, c := range clients {
		if _, ok := got[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// without is clients but drop.
func without(clients []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(clients), func(c string) bool { return slices.Contains(drop, c) })
}

// startSolo runs herd node Solo on data and returns it with its client
// address.
func startSolo(t *testing.T, file, data string) (*proc, string) {
	t.Helper()
	p := startProc(t, "node", "--config", file, "--name", "Solo", "--data", data)
	return p, strings.TrimSuffix(p.waitLine(t, nodeUpRE)[2], ",")
}

// refused runs herd node Solo on data and wants it to exit 1 at once.
func refused(t *testing.T, file, data string) string {
	t.Helper()
	out, err := exec.Command(herdBin, "node", "--config", file, "--name", "Solo", "--data", data).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("herd node on damaged storage: %v, want exit status 1\n%s", err, out)
	}
	return string(out)
}

// salvage runs herd storage salvage dir and wants exit 0.
func salvage(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command(herdBin, "storage", "salvage", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("herd storage salvage: %v\n%s", err, out)
	}
	return string(out)
}

var offsetRE = regexp.MustCompile(`at offset (\d+)`)

// Damage to a node's files, met as a user meets it, with the built binary
// and herd node --data: a torn tail (kill -9 mid-write) is cut and logged
// with its offset, and the node starts with every record before it; a
// flipped byte in the middle of a log segment, and a truncated snapshot,
// stop the node with an exit message naming the file and offset and the
// salvage command; herd storage salvage then lets it start with every
// record before and after the damage, and only the damaged one lost.
func TestHerdNode_DamagedStorage(t *testing.T) {
	file, data := soloHerdFile(t), t.TempDir()
	dir := filepath.Join(data, "Solo")

	// Torn tail.
	p, addr := startSolo(t, file, data)
	torn := iamats(t, addr, "t", 20)
	seg := inLog(t, dir, "t19 ")
	p.cmd.Process.Kill()
	<-p.exited
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	p, addr = startSolo(t, file, data)
	if got := held(t, addr, torn); !slices.Equal(got, torn[:19]) {
		t.Fatalf("after a torn tail the node holds %v, want t0..t18", got)
	}
	if log := p.stderr.String(); !strings.Contains(log, "cut a torn tail") || !strings.Contains(log, "file="+seg) || !offsetRE.MatchString(strings.ReplaceAll(log, "offset=", "at offset ")) {
		t.Errorf("the cut is not logged with its file and offset:\n%s", log)
	}

	// A flipped byte in the middle of a segment.
	flipped := iamats(t, addr, "f", 20)
	seg = inLog(t, dir, "f19 ")
	p.cmd.Process.Kill()
	<-p.exited
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte(" f10 "))
	b[at+2] ^= 0x20 // f10 → F10: the checksum no longer holds
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	out := refused(t, file, data)
	m := offsetRE.FindStringSubmatch(out)
	for _, want := range []string{"corrupt storage file", seg, "herd storage salvage " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("exit message lacks %q:\n%s", want, out)
		}
	}
	if off, _ := strconv.Atoi(m[1]); m == nil || off > at || at-off > 100 {
		t.Errorf("exit message names offset %v, want the entry holding byte %d:\n%s", m, at, out)
	}
	out = salvage(t, dir)
	if !strings.Contains(out, "salvaged "+seg+": kept 19 records") || !strings.Contains(out, "at offset "+m[1]) {
		t.Errorf("salvage output:\n%s", out)
	}
	p, addr = startSolo(t, file, data)
	if got := held(t, addr, flipped); !slices.Equal(got, without(flipped, "f10")) {
		t.Fatalf("after salvage the node holds %v, want every f but f10", got)
	}
	if got := held(t, addr, torn); !slices.Equal(got, torn[:19]) {
		t.Fatalf("after salvage the node holds %v of the earlier segment, want t0..t18", got)
	}
	p.stopQuietly(t) // a snapshot of all 38 at the clean stop

	// A truncated snapshot.
	snaps := files(t, dir, "*.snap")
	if len(snaps) != 1 || len(files(t, dir, "*.log")) != 0 {
		t.Fatalf("after a clean stop: snapshots %v, segments %v; want one snapshot alone", snaps, files(t, dir, "*.log"))
	}
	if fi, err = os.Stat(snaps[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(snaps[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	out = refused(t, file, data)
	for _, want := range []string{"truncated snapshot", snaps[0], "herd storage salvage " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("exit message lacks %q:\n%s", want, out)
		}
	}
	out = salvage(t, dir)
	km := regexp.MustCompile(`salvaged \S+\.snap: kept (\d+) records`).FindStringSubmatch(out)
	if km == nil {
		t.Fatalf("salvage output:\n%s", out)
	}
	kept, _ := strconv.Atoi(km[1])
	p, addr = startSolo(t, file, data)
	all := append(without(torn, "t19"), without(flipped, "f10")...)
	if got := held(t, addr, all); len(got) != kept || kept == 0 || kept >= len(all) {
		t.Errorf("after salvaging half a snapshot the node holds %d records, salvage kept %d of %d", len(got), kept, len(all))
	}
	p.stopQuietly(t)

	// Nothing to salvage, and a directory that is no node's.
	if out := salvage(t, dir); !strings.Contains(out, "nothing to salvage") {
		t.Errorf("salvage of a healthy directory:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "", "storage", "salvage", data); code != 1 || !strings.Contains(errOut, "holds no herd log or snapshot") {
		t.Errorf("salvage of the herd's directory: %d %q", code, errOut)
	}
}
