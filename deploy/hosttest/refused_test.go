package hosttest

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var correct = []string{"Goloman", "Hands", "Holiday", "Wilkes"}

// TestFiveHosts_refusedNode runs deploy/hosts/herd.yaml with Welsh
// misconfigured, as operators get it wrong:
//
//   - with the wrong route password, for refusedWindow (30s with
//     HERD_REFUSED_LONG=1): each correct node stays under 5% of a core,
//     Welsh is dialled at most once per 2s per peer, the refusals are
//     logged a bounded number of times, and the lines name the setting;
//   - with Wilkes's certificate: every peer refuses it and says whose
//     certificate it presented, Welsh says its certificate is not its
//     own, and it joins nobody (no half-joined mesh);
//   - fixed: it joins at once.
func TestFiveHosts_refusedNode(t *testing.T) {
	window := 8 * time.Second
	if os.Getenv("HERD_REFUSED_LONG") == "1" {
		window = 30 * time.Second
	}
	l := newLab(t)
	for _, n := range correct {
		l.start(n)
	}
	l.startWith("Welsh", "Welsh", "HERD_ROUTE_PASSWORD=not-the-herds-password")
	for _, n := range correct {
		l.waitUnreachable(n, "Welsh")
	}
	l.waitUnreachable("Welsh", correct...)
	l.waitLogged("Welsh", `route password mismatch with \w+ \(10\.77\.0\.\d+\): check HERD_ROUTE_PASSWORD`)
	for _, n := range correct {
		l.waitLogged(n, `route password mismatch with Welsh \(10\.77\.0\.4\): check HERD_ROUTE_PASSWORD`)
		// Welsh logs the first three refusals of each peer's dials; the
		// window starts once it has, so that it measures the steady state.
		l.waitLogged("Welsh", `route password mismatch with `+n+` .*refusals_in_a_row=3`)
	}

	// The measured window: nothing here talks to Welsh's host.
	cpu := map[string]time.Duration{}
	for _, n := range correct {
		cpu[n] = l.cpuTime(n)
	}
	logged := map[string]int{}
	for _, n := range append([]string{"Welsh"}, correct...) {
		logged[n] = strings.Count(l.proc(n).stderr(), "\n")
	}
	// The window spans both reads of the counter (each an `ip netns exec`,
	// slow under load): every dial counted falls inside it.
	start := time.Now()
	dials := l.passiveOpens("Welsh")
	for time.Since(start) < window {
		for _, n := range append([]string{"Welsh"}, correct...) {
			if strings.Contains(l.proc(n).stdout.String(), "joined the herd") {
				t.Fatalf("%s joined the herd with Welsh's wrong password", n)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	dials = l.passiveOpens("Welsh") - dials
	took := time.Since(start)
	t.Logf("over %v: Welsh dialled %d times by its 4 peers (%.2f/s)", took.Round(time.Millisecond), dials, float64(dials)/took.Seconds())
	// Welsh holds its refusals of each peer 1s, 2s, 4s… (refusals.go), so
	// once it has refused a peer three times, that peer's dials come at
	// most once per 2s. They came once a second (at this bound before,
	// over it under load) while each peer's short-pool watch redialled
	// Welsh every 2s (embeddednats goneCounts).
	if max := int64(took/(2*time.Second)+1) * int64(len(correct)); dials > max {
		t.Errorf("Welsh dialled %d times in %v, want at most one per 2s per peer (%d)", dials, took, max)
	}
	for _, n := range correct {
		used := l.cpuTime(n) - cpu[n]
		share := used.Seconds() / took.Seconds()
		t.Logf("%s: %v CPU in %v = %.2f%% of a core", n, used, took.Round(time.Millisecond), 100*share)
		if share > 0.05 {
			t.Errorf("%s used %.1f%% of a core while Welsh was refused, want under 5%%", n, 100*share)
		}
	}
	// A line per refusal would be one a second or so per peer; the log
	// has the first few, then one per 30s per peer and kind of line
	// (nats-server's own lines are limited alike). The window begins
	// after the first refusals.
	for _, n := range append([]string{"Welsh"}, correct...) {
		lines := strings.Count(l.proc(n).stderr(), "\n") - logged[n]
		t.Logf("%s: %d log lines in the window", n, lines)
		if max := 12 * (1 + int(took/(30*time.Second))); lines > max {
			t.Errorf("%s logged %d lines in %v while Welsh was refused, want at most %d:\n%s", n, lines, took, max, l.proc(n).stderr())
		}
	}
	for _, n := range correct {
		if got := strings.Count(l.proc(n).stderr(), "route password mismatch with Welsh"); got > 3+int(took/(30*time.Second))+1 {
			t.Errorf("%s reported the mismatch with Welsh %d times in %v", n, got, took)
		}
		// It says who is missing from its mesh, every 30s.
		missing := regexp.MustCompile(`no route to some peers.*missing=\[Welsh\]`).FindAllString(l.proc(n).stderr(), -1)
		if len(missing) == 0 || len(missing) > 1+int(time.Since(l.began)/(30*time.Second)) {
			t.Errorf("%s said %d times that Welsh is missing from its mesh in %v", n, len(missing), time.Since(l.began))
		}
	}
	if testing.Verbose() {
		t.Logf("Welsh's log:\n%s", tail(l.proc("Welsh").stderr(), 8))
		t.Logf("Goloman's log:\n%s", tail(l.proc("Goloman").stderr(), 6))
	}
	l.stop("Welsh")

	// Welsh with Wilkes's certificate (and the right password): refused by
	// every peer, which says so, and Welsh says why at start.
	l.startWith("Welsh", "Wilkes")
	l.waitLogged("Welsh", `route certificate of this node does not name its route host.*for wilkes\.herd, 10\.77\.0\.5, not welsh\.herd`)
	for _, n := range correct {
		l.waitLogged(n, `certificate for wilkes\.herd, 10\.77\.0\.5 presented by a node connecting as Welsh \(10\.77\.0\.4\): Welsh's route certificate must name welsh\.herd`)
	}
	l.waitOut("Welsh", `node Welsh up`) // its monitor port listens
	for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(100 * time.Millisecond) {
		for _, n := range correct {
			if _, hz, err := l.health(n); err != nil || len(hz.UnreachablePeers) != 1 || hz.UnreachablePeers[0] != "Welsh" {
				t.Fatalf("%s with Welsh on Wilkes's certificate: unreachable %v (%v), want only Welsh", n, hz.UnreachablePeers, err)
			}
		}
		if _, hz, err := l.health("Welsh"); err != nil || len(hz.UnreachablePeers) != len(correct) || hz.Status == "ok" {
			t.Fatalf("Welsh on Wilkes's certificate half-joined: %+v (%v)", hz, err)
		}
	}
	if testing.Verbose() {
		t.Logf("Welsh's log:\n%s", tail(l.proc("Welsh").stderr(), 6))
		t.Logf("Holiday's log:\n%s", tail(l.proc("Holiday").stderr(), 4))
	}
	l.stop("Welsh")

	l.start("Welsh")
	fixed := time.Now()
	l.waitJoined("Welsh")
	for _, n := range correct {
		l.waitJoined(n)
	}
	t.Logf("Welsh fixed: the herd whole %v after it started", time.Since(fixed).Round(time.Millisecond))
	for _, n := range append(correct, "Welsh") {
		l.stop(n)
	}
}

// waitLogged waits until node has logged a line matching re.
func (l *lab) waitLogged(node, re string) {
	l.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for !rx.MatchString(l.proc(node).stderr()) {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s did not log %q:\n%s", node, re, l.proc(node).stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
