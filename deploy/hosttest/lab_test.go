package hosttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := l.monitorGet(node, "/healthz")
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

// health is node's /healthz answer, asked from inside its host.
func (l *lab) health(node string) (int, healthz, error) {
	resp, err := l.monitorGet(node, "/healthz")
	if err != nil {
		return 0, healthz{}, err
	}
	defer resp.Body.Close()
	var hz healthz
	err = json.NewDecoder(resp.Body).Decode(&hz)
	return resp.StatusCode, hz, err
}

// healthz is what the lab reads of /healthz.
type healthz struct {
	Status           string   `json:"status"`
	Missing          []string `json:"missing"`
	UnreachablePeers []string `json:"unreachable_peers"`
}

// waitUnreachable polls node's /healthz until the herd peers it reports
// unreachable are exactly peers (sorted).
func (l *lab) waitUnreachable(node string, peers ...string) {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, hz, err := l.health(node)
		if err == nil && slices.Equal(hz.UnreachablePeers, peers) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s reports unreachable peers %v, want %v (last error %v); its routes:\n%s", node, hz.UnreachablePeers, peers, err, l.routes(node))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// monitorGet asks node's monitor port for path, from inside its host.
func (l *lab) monitorGet(node, path string) (*http.Response, error) {
	h := l.host(node)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.Dial, DisableKeepAlives: true}}
	return client.Get("http://" + net.JoinHostPort(h.IP, "18222") + path)
}

// monitorBody is node's answer to path on its monitor port.
func (l *lab) monitorBody(node, path string) (string, error) {
	resp, err := l.monitorGet(node, path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// routes is node's /routez (with subscription counts), for a failure's
// message: which remote servers the node believes it is connected to.
func (l *lab) routes(node string) string {
	body, err := l.monitorBody(node, "/routez")
	if err != nil {
		return err.Error()
	}
	return body
}

// passiveOpens is how many TCP connections node's host has accepted:
// /proc/net/snmp, Tcp PassiveOpens, read inside its namespace.
func (l *lab) passiveOpens(node string) int64 {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.host(node).NS, "cat", "/proc/net/snmp").Output()
	if err != nil {
		l.t.Fatal(err)
	}
	var header []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		if i := slices.Index(header, "PassiveOpens"); i > 0 && i < len(f) {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	l.t.Fatalf("no Tcp PassiveOpens in /proc/net/snmp of %s:\n%s", node, out)
	return 0
}

// cpuTime is the CPU time node's herd process has used so far: user and
// system time from /proc/<pid>/stat.
func (l *lab) cpuTime(node string) time.Duration {
	l.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", l.proc(node).cmd.Process.Pid))
	if err != nil {
		l.t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		l.t.Fatalf("parse /proc stat of %s: %q", node, b)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
