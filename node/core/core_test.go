package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/proto"
	"github.com/herdhq/herd/node/store"
)

// fixedClock is the node's clock: 1621464828.223372037.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1621464828, 223372037) }

// events records, in order, replies given and records flooded.
type events []string

func (e *events) Publish(r record.Record) { *e = append(*e, "flood "+r.Line) }

// counts is a core.Observer.
type counts map[[2]uint8]int

func (c counts) Command(cmd core.Command, o core.Outcome) { c[[2]uint8{uint8(cmd), uint8(o)}]++ }

// scripted answers with resp, or err.
type scripted struct {
	resp places.Response
	err  error
}

func (s scripted) Nearby(context.Context, places.Query) (places.Response, error) {
	return s.resp, s.err
}

func newCore(t *testing.T, p places.Provider) (*core.Core, *events, counts) {
	t.Helper()
	ev, obs := &events{}, counts{}
	c, err := core.New(core.Config{Name: "Goloman", Clock: fixedClock{}, Observe: obs}, store.New(), p, ev)
	if err != nil {
		t.Fatal(err)
	}
	return c, ev, obs
}

func parse(t *testing.T, c *core.Core, line string) proto.Command {
	t.Helper()
	cmd, err := c.Parse([]byte(line))
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return cmd
}

// An IAMAT is answered first and flooded after, only when newer; each
// outcome is counted.
func TestCore_Iamat(t *testing.T) {
	c, ev, obs := newCore(t, scripted{})
	reply := func(r record.Record, stored bool) {
		if stored {
			*ev = append(*ev, "reply stored "+r.Line)
		} else {
			*ev = append(*ev, "reply stale "+r.Line)
		}
	}
	for _, line := range []string{"IAMAT c +1+1 100", "IAMAT c +1+1 100", "IAMAT c +1+1 99"} {
		if tk, err := c.Iamat(parse(t, c, line), reply); err != nil || tk != nil {
			t.Fatalf("Iamat without a log = %v, %v; want no ticket", tk, err)
		}
	}
	if _, err := c.Iamat(parse(t, c, "IAMAT c +1+1 99999999999999999999"), reply); !errors.Is(err, core.ErrTimeRange) {
		t.Fatalf("time out of range: %v", err)
	}
	const at = "AT Goloman +1621464728.223372037 c +1+1 100"
	want := []string{"reply stored " + at, "flood " + at, "reply stale " + at,
		"reply stale AT Goloman +1621464729.223372037 c +1+1 99"}
	if len(*ev) != len(want) {
		t.Fatalf("events %q, want %q", *ev, want)
	}
	for i := range want {
		if (*ev)[i] != want[i] {
			t.Fatalf("event %d = %q, want %q", i, (*ev)[i], want[i])
		}
	}
	if obs[[2]uint8{uint8(core.CommandIAMAT), uint8(core.OutcomeStored)}] != 1 ||
		obs[[2]uint8{uint8(core.CommandIAMAT), uint8(core.OutcomeStale)}] != 2 ||
		obs[[2]uint8{uint8(core.CommandIAMAT), uint8(core.OutcomeInvalid)}] != 1 {
		t.Errorf("counts %v", obs)
	}
}

// ticket is a core.Ticket that names its record.
type ticket string

func (ticket) Wait(context.Context) error { return nil }

// logged is a core.Log that records appends among the events.
type logged struct{ ev *events }

func (l logged) Append(r record.Record) core.Ticket {
	*l.ev = append(*l.ev, "log "+r.Line)
	return ticket(r.Line)
}

// With a log, a stored IAMAT is appended before its reply, and Iamat
// returns the append's ticket (the door's wait before replying); a stale
// IAMAT is neither appended nor waited on.
func TestCore_IamatLog(t *testing.T) {
	ev := &events{}
	c, err := core.New(core.Config{Name: "Goloman", Clock: fixedClock{}, Log: logged{ev}}, store.New(), scripted{}, ev)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(r record.Record, stored bool) { *ev = append(*ev, "reply "+r.Line) }
	const at = "AT Goloman +1621464728.223372037 c +1+1 100"
	tk, err := c.Iamat(parse(t, c, "IAMAT c +1+1 100"), reply)
	if err != nil || tk != ticket(at) {
		t.Fatalf("stored: ticket %v, %v; want the append's", tk, err)
	}
	if tk, err := c.Iamat(parse(t, c, "IAMAT c +1+1 100"), reply); err != nil || tk != nil {
		t.Fatalf("stale: ticket %v, %v; want none", tk, err)
	}
	want := []string{"log " + at, "reply " + at, "flood " + at, "reply " + at}
	if len(*ev) != len(want) {
		t.Fatalf("events %q, want %q", *ev, want)
	}
	for i := range want {
		if (*ev)[i] != want[i] {
			t.Fatalf("event %d = %q, want %q", i, (*ev)[i], want[i])
		}
	}
}

// Parse counts what it refuses; Invalid counts what a door refuses.
func TestCore_ParseInvalid(t *testing.T) {
	c, _, obs := newCore(t, scripted{})
	if _, err := c.Parse([]byte("IAMAT caf\xe9 +1+1 1")); !errors.Is(err, proto.ErrClientNotUTF8) {
		t.Fatalf("name not UTF-8: %v", err)
	}
	c.Invalid()
	if got := obs[[2]uint8{uint8(core.CommandInvalid), uint8(core.OutcomeInvalid)}]; got != 2 {
		t.Errorf("invalid counted %d times, want 2", got)
	}
}

// A WHATSAT looks up the stored record and asks Places around it; the
// response is cut to the limit and always has a status and a body.
func TestCore_Whatsat(t *testing.T) {
	results := []json.RawMessage{json.RawMessage(`{"name":"a"}`), json.RawMessage(`{"name":"b"}`), json.RawMessage(`{"name":"c"}`)}
	for _, tt := range []struct {
		name   string
		p      scripted
		status string
		n      int
	}{
		{"cut to the limit", scripted{resp: places.Response{Results: results}}, places.StatusOK, 2},
		{"nothing near", scripted{}, places.StatusZeroResults, 0},
		{"upstream status kept", scripted{resp: places.Failure(places.StatusOverQueryLimit, "slow down")}, places.StatusOverQueryLimit, 0},
		{"failed call", scripted{err: errors.New("dial tcp: refused")}, places.StatusUnknownError, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, obs := newCore(t, tt.p)
			if _, err := c.Whatsat(parse(t, c, "WHATSAT kiwi 10 2")); !errors.Is(err, core.ErrUnknownClient) {
				t.Fatalf("unknown client: %v", err)
			}
			if _, err := c.Iamat(parse(t, c, "IAMAT kiwi +34.068930-118.445127 1"), func(record.Record, bool) {}); err != nil {
				t.Fatal(err)
			}
			l, err := c.Whatsat(parse(t, c, "WHATSAT kiwi 10.5 2"))
			if err != nil {
				t.Fatal(err)
			}
			if q := l.Query; q.Lat != 34.068930 || q.Lng != -118.445127 || q.RadiusM != 10500 || q.Limit != 2 {
				t.Errorf("query %+v", q)
			}
			resp := c.Search(context.Background(), l)
			if resp.Status != tt.status || len(resp.Results) != tt.n || resp.Results == nil || resp.HTMLAttributions == nil {
				t.Errorf("response %+v, want %s with %d results", resp, tt.status, tt.n)
			}
			if obs[[2]uint8{uint8(core.CommandWHATSAT), uint8(core.OutcomeAnswered)}] != 1 ||
				obs[[2]uint8{uint8(core.CommandWHATSAT), uint8(core.OutcomeUnknownClient)}] != 1 {
				t.Errorf("counts %v", obs)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := (core.Config{Name: "a.b"}).Validate(); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := core.New(core.Config{Name: "A"}, nil, nil, nil); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("New without parts: %v", err)
	}
}
