package node_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
)

// The live view is served at / of the monitor port, and its event stream
// describes the whole herd given in Config.Herd.
func TestNode_LiveView(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.Name, cfg.Places, cfg.MonitorAddr = "Solo", nodetest.ZeroPlaces{}, "127.0.0.1:0"
	cfg.Herd = node.Topology{Nodes: []string{"Solo", "Other"}, Edges: [][2]string{{"Other", "Solo"}}}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	resp, err := http.Get(n.MonitorURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(page)), "<html") {
		t.Fatalf("GET /: %d %.200q", resp.StatusCode, page)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.MonitorURL()+"/live/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data:") {
			if !strings.Contains(line, `"Other"`) || !strings.Contains(line, `"Solo"`) {
				t.Fatalf("first event does not describe the herd: %.300s", line)
			}
			return
		}
	}
	t.Fatalf("no event: %v", sc.Err())
}
