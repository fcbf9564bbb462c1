package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/service"
)

// fixedClock makes AT lines deterministic: 1621464828.223372037.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1621464828, 223372037) }

// somePlaces answers with limit places whose text needs escaping.
type somePlaces struct{}

func (somePlaces) Nearby(_ context.Context, q places.Query) (places.Response, error) {
	resp := places.Response{HTMLAttributions: []string{`<a href="x?a=1&b=2">data</a>`}, Status: places.StatusOK}
	for i := range 25 {
		b, err := places.Place{Name: fmt.Sprintf("Place <%d> & co", i), PlaceID: fmt.Sprint(i),
			Geometry: places.Geometry{Location: places.LatLng{Lat: q.Lat, Lng: q.Lng}}}.JSON()
		if err != nil {
			return places.Response{}, err
		}
		resp.Results = append(resp.Results, b)
	}
	return resp, nil
}

// request calls a service subject from an outside client and returns the
// reply's data and its micro error code ("" on success).
func request(t *testing.T, nc *nats.Conn, subject, data string) (string, string) {
	t.Helper()
	m, err := nc.Request(subject, []byte(data), 10*time.Second)
	if err != nil {
		t.Fatalf("request %s %q: %v", subject, data, err)
	}
	return string(m.Data), m.Header.Get("Nats-Service-Error-Code")
}

// Every command sent to herd.iamat / herd.whatsat, as JSON and as a
// classic line, gets the answer the TCP port gives the same command.
func TestService_MatchesTCP(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": nil}, func(_ string, c *node.Config) {
		c.Clock = fixedClock{}
		c.Places = somePlaces{}
	})
	nc, err := nats.Connect(h.Node("A").NATS().ClientURL()) // an unauthenticated outsider
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	tests := []struct {
		name, subject, tcp, json string
		code                     string // micro error code; "" answers
	}{
		{"iamat new", service.SubjectIAMAT, "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
			`{"client":"kiwi","location":"+34.068930-118.445127","time":"1621464827.959498503"}`, ""},
		{"iamat same again", service.SubjectIAMAT, "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
			`{"client":"kiwi","location":"+34.068930-118.445127","time":1621464827.959498503}`, ""},
		{"iamat older", service.SubjectIAMAT, "IAMAT kiwi +34.068930-118.445127 1621464800",
			`{"client":"kiwi","location":"+34.068930-118.445127","time":1621464800}`, ""},
		{"iamat bad location", service.SubjectIAMAT, "IAMAT kiwi +91-118 1621464827",
			`{"client":"kiwi","location":"+91-118","time":"1621464827"}`, service.CodeInvalid},
		{"iamat time out of range", service.SubjectIAMAT, "IAMAT kiwi +1+1 99999999999999999999",
			`{"client":"kiwi","location":"+1+1","time":"99999999999999999999"}`, service.CodeInvalid},
		// One rule for names at both doors: not UTF-8 is invalid, never
		// turned into U+FFFD by the JSON decoder (protocol.md §1).
		{"iamat name not UTF-8", service.SubjectIAMAT, "IAMAT caf\xe9 +1+1 1621464827",
			"{\"client\":\"caf\xe9\",\"location\":\"+1+1\",\"time\":\"1621464827\"}", service.CodeInvalid},
		{"whatsat name not UTF-8", service.SubjectWHATSAT, "WHATSAT caf\xe9 10 5",
			"{\"client\":\"caf\xe9\",\"radius\":10,\"limit\":5}", service.CodeInvalid},
		{"whatsat", service.SubjectWHATSAT, "WHATSAT kiwi 10 5", `{"client":"kiwi","radius":10,"limit":5}`, ""},
		{"whatsat decimal radius", service.SubjectWHATSAT, "WHATSAT kiwi 0.5 20", `{"client":"kiwi","radius":"0.5","limit":"20"}`, ""},
		{"whatsat limit too big", service.SubjectWHATSAT, "WHATSAT kiwi 10 21", `{"client":"kiwi","radius":10,"limit":21}`, service.CodeInvalid},
		{"whatsat unknown client", service.SubjectWHATSAT, "WHATSAT nobody 10 5", `{"client":"nobody","radius":10,"limit":5}`, service.CodeUnknownClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tcp := h.Send("A", tt.tcp)
			for _, body := range []string{tt.json, tt.tcp} {
				got, code := request(t, nc, tt.subject, body)
				if code != tt.code {
					t.Fatalf("%q: error code %q, want %q (reply %q)", body, code, tt.code, got)
				}
				if code != "" {
					if want := strings.TrimSuffix(tcp, "\n"); got != want {
						t.Errorf("%q: error data %q, TCP answered %q", body, got, want)
					}
					continue
				}
				compareReply(t, tt.subject, got, tcp)
			}
		})
	}
}

// compareReply checks a service reply against the TCP reply.
func compareReply(t *testing.T, subject, got, tcp string) {
	t.Helper()
	at, body, _ := strings.Cut(tcp, "\n")
	if subject == service.SubjectIAMAT {
		var r service.IamatReply
		if err := json.Unmarshal([]byte(got), &r); err != nil {
			t.Fatalf("iamat reply %q: %v", got, err)
		}
		// The TCP call just before stored an equal record: never stored.
		if r.AT != at || r.Stored {
			t.Errorf("iamat reply %+v, TCP answered %q", r, at)
		}
		return
	}
	var r struct {
		AT     string          `json:"at"`
		Places json.RawMessage `json:"places"`
	}
	if err := json.Unmarshal([]byte(got), &r); err != nil {
		t.Fatalf("whatsat reply %q: %v", got, err)
	}
	var fromService, fromTCP any
	if err := json.Unmarshal(r.Places, &fromService); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &fromTCP); err != nil {
		t.Fatalf("TCP body %q: %v", body, err)
	}
	if r.AT != at || !reflect.DeepEqual(fromService, fromTCP) {
		t.Errorf("whatsat reply %s\nTCP answered %s", got, tcp)
	}
}

// An IAMAT through the service is stored and flooded like one through the
// TCP port; a new record answers stored:true.
func TestService_IamatFloods(t *testing.T) {
	h := startHerd(t, nodetest.Line3)
	nc, err := nats.Connect(h.Node("C").NATS().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got, code := request(t, nc, service.SubjectIAMAT, `{"client":"svc","location":"+1+1","time":"1621464827.5"}`)
	var r service.IamatReply
	if err := json.Unmarshal([]byte(got), &r); code != "" || err != nil || !r.Stored {
		t.Fatalf("reply %q, code %q, err %v", got, code, err)
	}
	h.WaitRecord("svc", r.AT, "A", "B", "C")
	// Any node answers a WHATSAT for it, with the origin's AT line.
	got, code = request(t, nc, service.SubjectWHATSAT, "WHATSAT svc 10 3")
	var w service.WhatsatReply
	if err := json.Unmarshal([]byte(got), &w); code != "" || err != nil || w.AT != r.AT || w.Places.Status != places.StatusZeroResults {
		t.Fatalf("whatsat reply %q, code %q, err %v", got, code, err)
	}
}

// Malformed requests are refused with 400, and the wrong command for an
// endpoint too; nothing is stored.
func TestService_Refusals(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": nil})
	nc, err := nats.Connect(h.Node("A").NATS().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tt := range []struct{ subject, data string }{
		{service.SubjectIAMAT, `{"client":"x","location":"+1+1"}`},              // no time
		{service.SubjectIAMAT, `{"client":"x y","location":"+1+1","time":"1"}`}, // whitespace would shift fields
		{service.SubjectIAMAT, `{"client":"x","location":"+1+1","time":"1","extra":1}`},
		{service.SubjectIAMAT, `{"client":"x","location":"+1+1","time":true}`},
		{service.SubjectIAMAT, `{"client":"x","location":"+1+1","time":"1"} {}`},
		{service.SubjectIAMAT, `{`},
		{service.SubjectIAMAT, ``},
		{service.SubjectIAMAT, `WHATSAT x 1 1`},
		{service.SubjectWHATSAT, `IAMAT x +1+1 1`},
		{service.SubjectWHATSAT, `{"client":"x","radius":1e1,"limit":1}`},
		{service.SubjectIAMAT, `{"client":"x\ud800","location":"+1+1","time":"1"}`}, // a lone surrogate is no UTF-8
	} {
		got, code := request(t, nc, tt.subject, tt.data)
		if code != service.CodeInvalid {
			t.Errorf("%s %q: code %q, reply %q", tt.subject, tt.data, code, got)
		}
	}
	if n := h.Node("A").Store().Len(); n != 0 {
		t.Fatalf("store holds %d records", n)
	}
}

// Browsers reach the service over the NATS WebSocket listener.
func TestService_Websocket(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": nil}, func(_ string, c *node.Config) {
		c.WebsocketAddr = "127.0.0.1:0"
	})
	url := h.Node("A").WebsocketURL()
	if !strings.HasPrefix(url, "ws://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":-1") {
		t.Fatalf("websocket URL %q", url)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got, code := request(t, nc, service.SubjectIAMAT, `{"client":"browser","location":"+1+1","time":"1"}`)
	if code != "" || !strings.Contains(got, `"at":"AT A `) {
		t.Fatalf("reply %q, code %q", got, code)
	}
}

// The service's commands are counted with the TCP port's, by the one
// core: herd_client_commands_total after requests through the service
// alone.
func TestService_Counted(t *testing.T) {
	h := startHerd(t, map[string][]string{"A": nil}, monitorOn)
	nc, err := nats.Connect(h.Node("A").NATS().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, r := range []struct{ subject, data string }{
		{service.SubjectIAMAT, `{"client":"kiwi","location":"+1+1","time":"1621464827"}`},
		{service.SubjectIAMAT, "IAMAT kiwi +1+1 1621464827"},
		{service.SubjectIAMAT, "IAMAT kiwi +1+1 99999999999999999999"},
		{service.SubjectIAMAT, "HELLO"},
		{service.SubjectIAMAT, "WHATSAT kiwi 10 5"}, // the other endpoint's command
		{service.SubjectWHATSAT, `{"client":"kiwi","radius":10,"limit":5}`},
		{service.SubjectWHATSAT, "WHATSAT nobody 10 5"},
	} {
		request(t, nc, r.subject, r.data)
	}
	ss := scrape(t, h.Node("A"))
	for _, tt := range []struct {
		command, outcome string
		want             float64
	}{
		{"iamat", "stored", 1}, {"iamat", "stale", 1}, {"iamat", "invalid", 1},
		{"whatsat", "answered", 1}, {"whatsat", "unknown_client", 1}, {"invalid", "invalid", 2},
	} {
		if got := ss.Value("herd_client_commands_total", "command", tt.command, "outcome", tt.outcome); got != tt.want {
			t.Errorf("commands %s/%s = %v, want %v", tt.command, tt.outcome, got, tt.want)
		}
	}
	if got := ss.Value("herd_client_connections_opened_total"); got != 0 {
		t.Errorf("%v TCP connections counted for service requests", got)
	}
}
