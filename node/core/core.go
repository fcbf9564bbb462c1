// Package core is a node's command core: the one implementation of the
// client protocol's IAMAT and WHATSAT (protocol.md §1), shared by every
// door — the TCP port (node/server) and the NATS micro service
// (node/service), which only parse, call the core and render. It owns
// what a command touches: the record store, the node's clock, the Places
// provider and the hand-off to the flood, and it keeps the order of an
// IAMAT's reply and its flood in one place.
package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/proto"
)

// Errors, in one block. The command errors make the command invalid: the
// doors answer them with "?" (TCP) or a service error.
var (
	ErrInvalidConfig = errors.New("invalid core config")
	// ErrTimeRange: an IAMAT's time is too far (~292 years) from the
	// node's clock to compute its difference.
	ErrTimeRange = errors.New("client time out of range")
	// ErrUnknownClient: a WHATSAT names a client this node has no record of.
	ErrUnknownClient = errors.New("unknown client")
	// ErrBadRecord: a stored record or radius did not parse (cannot happen
	// with records the store accepted; refused rather than crash).
	ErrBadRecord = errors.New("bad stored record")
)

// Clock tells the node's time. Tests fix it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

var _ Clock = SystemClock{}

// Store is the node's record store as commands use it.
type Store interface {
	// Put stores r if it is newer than the client's record and reports
	// whether it did.
	Put(r record.Record) bool
	// Get returns the client's record.
	Get(client string) (record.Record, bool)
}

// Flood takes a record an IAMAT stored, to publish to the neighbors. It
// must not block (the bus only enqueues).
type Flood interface {
	Publish(r record.Record)
}

var _ Flood = (*bus.Bus)(nil)

// Log keeps every record an IAMAT stored on disk (node/storage, through
// the node). Append must not block.
type Log interface {
	// Append queues r for the disk and returns what the reply waits on;
	// nil when there is nothing to wait for.
	Append(r record.Record) Ticket
}

// Ticket says when an appended record is as durable as the node promises
// before it acknowledges it (node/storage.Ticket: with fsync always, once
// its batch is on disk).
type Ticket interface {
	// Wait returns nil once the promise holds, an error when the log gave
	// the record up (the node keeps it in memory and still answers), or
	// ctx's error. Tickets are decided in Append order.
	Wait(ctx context.Context) error
}

// Config of a node's core.
type Config struct {
	// Name is the node's name, written in the AT lines it originates.
	Name string
	// Clock is the node's clock; nil: SystemClock.
	Clock Clock
	// Observe is told of every command (metrics); nil: nobody.
	Observe Observer
	// Log takes every record an IAMAT stores, to keep it on disk; nil:
	// memory only. (The flood's and anti-entropy's records reach the disk
	// through the store the node gives the bus.)
	Log Log
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	if !record.ValidName(c.Name) {
		return fmt.Errorf("%w: Name %q is not a NATS token (letters, digits, _ and -)", ErrInvalidConfig, c.Name)
	}
	return nil
}

// Core runs the commands of one node. It is safe for concurrent use.
type Core struct {
	cfg    Config
	store  Store
	places places.Provider
	flood  Flood
}

// New validates cfg. Commands read and write st, search p and hand stored
// records to fl.
func New(cfg Config, st Store, p places.Provider, fl Flood) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || p == nil || fl == nil {
		return nil, fmt.Errorf("%w: nil store, places or flood", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Observe == nil {
		cfg.Observe = nopObserver{}
	}
	return &Core{cfg: cfg, store: st, places: p, flood: fl}, nil
}

// Parse parses one line (proto.Parse) and counts a line it refuses.
func (c *Core) Parse(line []byte) (proto.Command, error) {
	cmd, err := proto.Parse(line)
	if err != nil {
		c.cfg.Observe.Command(CommandInvalid, OutcomeInvalid)
	}
	return cmd, err
}

// Invalid counts a line a door refused before the parser saw it (longer
// than the line limit, or not the endpoint's command).
func (c *Core) Invalid() { c.cfg.Observe.Command(CommandInvalid, OutcomeInvalid) }

// Iamat runs a parsed IAMAT: it builds the AT line from the node's clock,
// stores it if it is newer than the client's record, appends a stored
// record to the log, calls reply with it (stored reports whether it was
// newer), and then — the reply queued first, so that no client waits on
// the flood — hands a stored record to the flood. The only error is
// ErrTimeRange, before reply is called.
//
// The Ticket is the appended record's (nil when nothing was appended):
// the door must not send the reply before Ticket.Wait returns, so that an
// acknowledged IAMAT is as durable as the fsync mode promises. A door
// that batches replies waits on the last Ticket of a batch only.
//
// reply runs on the caller's goroutine and must not keep rec's Line
// beyond what a record.Record allows (it is the stored string).
func (c *Core) Iamat(cmd proto.Command, reply func(rec record.Record, stored bool)) (Ticket, error) {
	diff, ok := record.Diff(c.cfg.Clock.Now().UnixNano(), cmd.Time)
	if !ok {
		c.cfg.Observe.Command(CommandIAMAT, OutcomeInvalid)
		return nil, ErrTimeRange
	}
	r := record.Build(c.cfg.Name, diff, cmd.Client, cmd.Location, cmd.Time)
	stored := c.store.Put(r)
	var t Ticket
	if stored {
		c.cfg.Observe.Command(CommandIAMAT, OutcomeStored)
		if c.cfg.Log != nil {
			t = c.cfg.Log.Append(r)
		}
	} else {
		c.cfg.Observe.Command(CommandIAMAT, OutcomeStale)
	}
	reply(r, stored)
	if stored {
		c.flood.Publish(r)
	}
	return t, nil
}

// Lookup is the synchronous half of a WHATSAT: the client's stored record
// and the Places query around it.
type Lookup struct {
	Record record.Record
	Query  places.Query
}

// Whatsat runs the synchronous half of a parsed WHATSAT. It fails with
// ErrUnknownClient (or ErrBadRecord). The door then runs Search, on its
// own goroutine if it must not wait for Places.
func (c *Core) Whatsat(cmd proto.Command) (Lookup, error) {
	rec, ok := c.store.Get(string(cmd.Client))
	if !ok {
		c.cfg.Observe.Command(CommandWHATSAT, OutcomeUnknownClient)
		return Lookup{}, ErrUnknownClient
	}
	lat, lng, ok := record.LatLng(rec.Location())
	km, err := strconv.ParseFloat(string(cmd.Radius), 64)
	if !ok || err != nil {
		// Stored locations and parsed radii are valid decimals; this
		// cannot happen, but a bad record must not take the node down.
		c.cfg.Observe.Command(CommandWHATSAT, OutcomeInvalid)
		return Lookup{}, ErrBadRecord
	}
	c.cfg.Observe.Command(CommandWHATSAT, OutcomeAnswered)
	return Lookup{Record: rec, Query: places.Query{Lat: lat, Lng: lng, RadiusM: km * 1000, Limit: cmd.Limit}}, nil
}

// Search asks the Places provider for l's query. A failed call becomes an
// UNKNOWN_ERROR response, so the client always gets a JSON body; results
// are cut to the limit and the status filled in.
func (c *Core) Search(ctx context.Context, l Lookup) places.Response {
	q := l.Query
	resp, err := c.places.Nearby(ctx, q)
	if err != nil {
		msg := "places lookup failed"
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			msg = "places lookup cancelled or timed out"
		}
		return places.Failure(places.StatusUnknownError, msg)
	}
	if len(resp.Results) > q.Limit {
		resp.Results = resp.Results[:q.Limit]
	}
	if resp.HTMLAttributions == nil {
		resp.HTMLAttributions = []string{}
	}
	if resp.Results == nil {
		resp.Results = []json.RawMessage{}
	}
	resp.Status = places.ResponseStatus(resp)
	return resp
}
