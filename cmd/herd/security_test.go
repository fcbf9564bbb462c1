package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places/googlefake"
)

// securedHerdFile is the built-in herd on port 0 with route
// authentication on, the legacy Google provider at baseURL and debug logs.
func securedHerdFile(t *testing.T, baseURL string) string {
	t.Helper()
	data, err := os.ReadFile(herdFile(t, false))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for old, repl := range map[string]string{
		"provider: offline": "provider: google-legacy",
		`base_url: ""`:      fmt.Sprintf("base_url: %q", baseURL),
		"level: info":       "level: debug",
		`user: ""`:          "user: herd",
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("default herd file lacks %q", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	path := filepath.Join(t.TempDir(), "secured.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A whole herd run with every secret set — route password, system user
// password, Places API key — logs at debug level, serves IAMAT and WHATSAT
// (upstream successes and failures), answers system-account monitoring
// requests and shuts down; no secret appears anywhere in its output, its
// logs or the monitoring answers.
func TestHerdUp_secretsNeverShown(t *testing.T) {
	const (
		routePW  = "route-Pw-7f3a9c"
		systemPW = "system-Pw-2b8e1d"
		placesKy = "AIzaFAKE-places-Key-5c6d"
	)
	fake := googlefake.NewLegacy(googlefake.Options{
		APIKey: placesKy,
		Script: []googlefake.Outcome{googlefake.Unavailable, googlefake.RequestDenied, googlefake.Garbage},
	})
	defer fake.Close()
	p := startProcEnv(t, []string{
		"HERD_ROUTE_PASSWORD=" + routePW, "HERD_SYSTEM_PASSWORD=" + systemPW, "HERD_PLACES_KEY=" + placesKy,
	}, "up", "--config", securedHerdFile(t, fake.URL()))
	p.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
	client, natsURL := map[string]string{}, map[string]string{}
	for len(client) < 5 {
		m := p.waitLine(t, regexp.MustCompile(`^(\w+)\s+(127\.0\.0\.1:\d+)\s+(nats://\S+)`))
		client[m[1]], natsURL[m[1]] = m[2], m[3]
	}
	if m := p.waitLine(t, regexp.MustCompile(`^Security: (.*)`)); !strings.Contains(m[1], "routes: user herd") || !strings.Contains(m[1], "system user: sys") {
		t.Errorf("security summary %q, want route user herd and system user sys", m[1])
	}

	var seen strings.Builder // everything the herd answered
	at := talk(t, client["Goloman"], "IAMAT kiwi +34.068930-118.445127 1621464827.959498503")
	seen.WriteString(at)
	waitWhatsat(t, client["Welsh"], "kiwi") // the record has flooded
	for i := range 6 {
		seen.WriteString(talk(t, client[[]string{"Welsh", "Hands", "Goloman"}[i%3]], fmt.Sprintf("WHATSAT kiwi %d 3", 1+i)))
	}
	if fake.Calls() == 0 {
		t.Fatal("the Places fake was never called: the key was not exercised")
	}
	if !strings.Contains(seen.String(), `"status": "OK"`) {
		t.Errorf("no WHATSAT succeeded upstream:\n%s", seen.String())
	}
	seen.WriteString(monitor(t, natsURL["Holiday"], systemPW))

	p.stop(t)
	all := seen.String() + p.stdout.String() + p.stderr.String()
	if !strings.Contains(p.stderr.String(), "level=DEBUG") {
		t.Fatal("no debug log captured: the test would prove little")
	}
	for name, secret := range map[string]string{"route password": routePW, "system password": systemPW, "places key": placesKy} {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("%s shown: ...%s...", name, all[max(0, i-300):min(len(all), i+40)])
		}
	}
	t.Logf("checked %d bytes of output, logs and monitoring answers; %d upstream calls", len(all), fake.Calls())
}

// monitor asks, as the system user, what `nats server list` and `nats
// server report` ask, and returns every answer. Each ping must be answered
// by all five nodes.
func monitor(t *testing.T, url, password string) string {
	t.Helper()
	nc, err := embeddednats.Dial(url, wait.Timeout, nats.UserInfo("sys", password))
	if err != nil {
		t.Fatalf("system user: %v", err)
	}
	defer nc.Close()
	var all strings.Builder
	for _, subj := range []string{"PING", "PING.VARZ", "PING.ROUTEZ", "PING.CONNZ", "PING.SUBSZ", "PING.ACCOUNTZ", "PING.HEALTHZ"} {
		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.PublishRequest("$SYS.REQ.SERVER."+subj, inbox, []byte(`{"auth":true,"subscriptions":true}`)); err != nil {
			t.Fatal(err)
		}
		var names []string
		for len(names) < 5 {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("%s answered by %v only: %v", subj, names, err)
			}
			all.Write(m.Data)
			var resp struct {
				Server struct{ Name string } `json:"server"`
			}
			if err := json.Unmarshal(m.Data, &resp); err != nil {
				t.Fatal(err)
			}
			names = append(names, resp.Server.Name)
		}
		slices.Sort(names)
		if strings.Join(names, ",") != "Goloman,Hands,Holiday,Welsh,Wilkes" {
			t.Errorf("%s answered by %v", subj, names)
		}
		sub.Unsubscribe()
	}
	return all.String()
}

// Two herd node processes with route authentication: B with the wrong
// password never joins and both logs stay quiet while it is refused; B
// restarted with the right password joins.
func TestHerdNode_wrongRoutePassword(t *testing.T) {
	file := filepath.Join(t.TempDir(), "two.yaml")
	data := fmt.Sprintf(`auth:
  routes: {user: herd}
nodes:
  - {name: A, client: %q, nats: %q, cluster: %q, neighbors: [B]}
  - {name: B, client: %q, nats: %q, cluster: %q, neighbors: [A]}
`, anyList(freeAddrs(t, 6))...)
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	upRE := regexp.MustCompile(`^node \w+ up:`)
	a := startProcEnv(t, []string{"HERD_ROUTE_PASSWORD=right-pw-1"}, "node", "--config", file, "--name", "A")
	a.waitLine(t, upRE)
	b := startProcEnv(t, []string{"HERD_ROUTE_PASSWORD=wrong-pw-2"}, "node", "--config", file, "--name", "B")
	b.waitLine(t, upRE)

	lines := func() int { return strings.Count(a.stderr.String(), "\n") + strings.Count(b.stderr.String(), "\n") }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(a.stderr.String(), "route password mismatch with B") {
		if time.Now().After(deadline) {
			t.Fatalf("A never refused B; A's log:\n%s", a.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	const window = 3 * time.Second
	before, start := lines(), time.Now()
	for time.Since(start) < window { // B must stay out for the whole window
		if strings.Contains(a.stdout.String(), "joined") || strings.Contains(b.stdout.String(), "joined") {
			t.Fatalf("a node joined with the wrong password:\n%s\n%s", a.stdout.String(), b.stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rate := float64(lines()-before) / time.Since(start).Seconds()
	if testing.Verbose() {
		all := strings.Split(a.stderr.String()+b.stderr.String(), "\n")
		t.Logf("last log lines:\n%s", strings.Join(all[max(0, len(all)-8):], "\n"))
	}
	t.Logf("refused: %.1f log lines/s (both processes, default log level) over %v", rate, window)
	if rate > 10 {
		t.Errorf("%.1f log lines/s while refused, want <= 10", rate)
	}
	b.stop(t)
	for _, out := range []string{a.stderr.String(), b.stderr.String()} {
		if strings.Contains(out, "right-pw-1") || strings.Contains(out, "wrong-pw-2") {
			t.Errorf("password in log:\n%s", out)
		}
	}

	b = startProcEnv(t, []string{"HERD_ROUTE_PASSWORD=right-pw-1"}, "node", "--config", file, "--name", "B")
	b.waitLine(t, regexp.MustCompile(`^node B joined the herd: 1 peers`))
	a.waitLine(t, regexp.MustCompile(`^node A joined the herd: 1 peers`))
	a.stop(t)
	b.stop(t)
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// herd node on a cluster address other hosts can reach, with no route
// authentication: it refuses to start and names the setting that would
// let it; with that setting it starts. herd check (the unit's
// ExecStartPre) says the same of the file both times.
func TestHerdNode_openRoutesRefused(t *testing.T) {
	addrs := freeAddrs(t, 3)
	file := filepath.Join(t.TempDir(), "open.yaml")
	write := func(routes string) {
		data := fmt.Sprintf("auth:\n  routes: {%s}\nnodes:\n  - {name: A, client: %q, nats: %q, cluster: %q}\n",
			routes, addrs[0], addrs[1], strings.Replace(addrs[2], "127.0.0.1", "0.0.0.0", 1))
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	if code, out, errOut := runBin(t, nil, "check", "--config", file, "--name", "A"); code != 1 || out != "" ||
		!strings.Contains(errOut, "node A: auth.routes.insecure") || !strings.Contains(errOut, "cluster address 0.0.0.0:") {
		t.Errorf("herd check of the open routes: exit %d, stdout %q, stderr %q; want 1 naming auth.routes.insecure", code, out, errOut)
	}
	p := startProc(t, "node", "--config", file, "--name", "A")
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("herd node with open routes off loopback did not exit")
	}
	if p.waitErr == nil || !strings.Contains(p.stderr.String(), "auth.routes.insecure") {
		t.Fatalf("exit %v, stderr %q: want a failure naming auth.routes.insecure", p.waitErr, p.stderr.String())
	}
	t.Logf("refused: %s", strings.TrimSpace(p.stderr.String()))

	write("insecure: true")
	if code, out, errOut := runBin(t, nil, "check", "--config", file, "--name", "A"); code != 0 || !strings.Contains(out, ": ok (1 nodes") {
		t.Errorf("herd check with auth.routes.insecure: exit %d, %q %q", code, out, errOut)
	}
	p = startProc(t, "node", "--config", file, "--name", "A")
	p.waitLine(t, regexp.MustCompile(`^node A up:`))
	p.stop(t)
}
