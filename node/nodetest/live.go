package nodetest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/live"
)

// Stream is a browser's server-sent event stream of a node's live view,
// read the way the page reads it.
type Stream struct {
	t    testing.TB
	resp *http.Response
	rd   *bufio.Reader
}

// OpenStream opens monitorURL/live/events; it is closed at the end of the
// test.
func OpenStream(t testing.TB, monitorURL string) *Stream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", monitorURL+"/live/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /live/events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &Stream{t: t, resp: resp, rd: bufio.NewReader(resp.Body)}
	t.Cleanup(s.Close)
	return s
}

// Close ends the stream, as a browser leaving.
func (s *Stream) Close() { s.resp.Body.Close() }

// Reader is the stream's body.
func (s *Stream) Reader() *bufio.Reader { return s.rd }

// Next returns the next event's name and data.
func (s *Stream) Next() (string, []byte) {
	s.t.Helper()
	var name string
	var data []byte
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = []byte(strings.TrimPrefix(line, "data: "))
		}
	}
}

// FrameUntil reads frames until cond holds for one, or fails after
// timeout.
func (s *Stream) FrameUntil(what string, timeout time.Duration, cond func(live.Frame) bool) live.Frame {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		name, data := s.Next()
		if name != "frame" {
			continue
		}
		var f live.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			s.t.Fatalf("frame %s: %v", data, err)
		}
		if cond(f) {
			return f
		}
	}
	s.t.Fatalf("no frame with %s within %v", what, timeout)
	return live.Frame{}
}

// NodeState is node name as frame f draws it.
func NodeState(f live.Frame, name string) live.NodeView {
	for _, n := range f.Nodes {
		if n.Name == name {
			return n
		}
	}
	return live.NodeView{}
}

// EdgeState is the state of edge a–b in f.
func EdgeState(f live.Frame, a, b string) string {
	for _, e := range f.Edges {
		if (e.A == a && e.B == b) || (e.A == b && e.B == a) {
			return e.State
		}
	}
	return ""
}

// AllUp reports whether f draws every node and edge up.
func AllUp(f live.Frame) bool {
	for _, n := range f.Nodes {
		if n.State != live.StateUp {
			return false
		}
	}
	for _, e := range f.Edges {
		if e.State != live.StateUp {
			return false
		}
	}
	return true
}
