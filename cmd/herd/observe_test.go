package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
)

var monitorTableRE = regexp.MustCompile(`^(\w+)\s+(127\.0\.0\.1:\d+)\s+(nats://\S+)\s+(http://\S+)\s`)

// The README's walkthrough, against `herd up`: the flood seen with its
// headers on herd.>, the service answering herd.iamat / herd.whatsat, the
// service instances answering $SRV.PING (what `nats micro ls` sends),
// /metrics counting the commands, /routez listing the neighbors, /healthz.
func TestHerdUp_Observability(t *testing.T) {
	p := startProc(t, "up", "--config", herdFile(t, false))
	p.waitLine(t, regexp.MustCompile(`is up: 5 nodes`))
	type addrs struct{ client, nats, monitor string }
	nodes := map[string]addrs{}
	for len(nodes) < 5 {
		m := p.waitLine(t, monitorTableRE)
		nodes[m[1]] = addrs{m[2], m[3], m[4]}
	}
	nc, err := embeddednats.Dial(nodes["Welsh"].nats, wait.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// herd.> carries anti-entropy (herd.sync.>) and the live view
	// (herd.live.>) too; the flood is herd.at.>.
	hops, err := nc.SubscribeSync("herd.at.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	at := strings.TrimSpace(talk(t, nodes["Goloman"].client, "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	m, err := hops.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Herd-Origin") != "Goloman" || m.Header.Get("Herd-Sender") == "" || string(m.Data) != at {
		t.Fatalf("flood hop on %s: headers %v, data %q", m.Subject, m.Header, m.Data)
	}

	// The service is a queue group of every node: wait until each holds
	// the record (the hop above may be the first of several).
	for name, n := range nodes {
		wait.For(t, name+" holding kiwi", func() bool {
			return strings.HasPrefix(talk(t, n.client, "WHATSAT kiwi.cs.ucla.edu 10 1"), at+"\n")
		})
	}
	reply, err := nc.Request("herd.whatsat", []byte(`{"client":"kiwi.cs.ucla.edu","radius":10,"limit":2}`), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		AT     string `json:"at"`
		Places struct {
			Status  string            `json:"status"`
			Results []json.RawMessage `json:"results"`
		} `json:"places"`
	}
	if err := json.Unmarshal(reply.Data, &w); err != nil || w.AT != at || w.Places.Status != "OK" || len(w.Places.Results) != 2 {
		t.Fatalf("herd.whatsat: %s (%v)", reply.Data, err)
	}

	// `nats micro ls` pings $SRV.PING.herd and lists every reply.
	inbox := nats.NewInbox()
	pongs, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("$SRV.PING.herd", inbox, nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for len(seen) < 5 {
		m, err := pongs.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("service pings answered by %v: %v", seen, err)
		}
		var pong struct {
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(m.Data, &pong); err != nil || pong.Name != "herd" {
			t.Fatalf("pong %s", m.Data)
		}
		seen = append(seen, pong.Metadata["node"])
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"}) {
		t.Fatalf("service instances %v", seen)
	}

	metrics := httpGet(t, nodes["Goloman"].monitor+"/metrics")
	if want := `herd_client_commands_total{command="iamat",node="Goloman",outcome="stored"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("Goloman /metrics lacks %s", want)
	}
	if want := `herd_flood_published_records_total{node="Goloman",to="Hands"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("Goloman /metrics lacks %s", want)
	}
	routez := httpGet(t, nodes["Goloman"].monitor+"/routez")
	for _, nb := range []string{"Hands", "Holiday", "Wilkes"} {
		if !strings.Contains(routez, fmt.Sprintf(`"remote_name": "%s"`, nb)) {
			t.Errorf("Goloman /routez lacks %s", nb)
		}
	}
	if hz := httpGet(t, nodes["Welsh"].monitor+"/healthz"); !strings.Contains(hz, `"status":"ok"`) {
		t.Errorf("Welsh /healthz: %s", hz)
	}
	p.stop(t)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
