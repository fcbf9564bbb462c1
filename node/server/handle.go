package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/proto"
)

// handle runs one line. Replies that are ready at once are appended to
// batch; a WHATSAT returns a pending reply that is filled concurrently so
// that a slow Places call does not hold up reading.
func (c *conn) handle(batch *[]byte, line []byte) *reply {
	cmd, err := proto.Parse(line)
	if err != nil {
		c.s.cfg.Observe.Command(CommandInvalid, OutcomeInvalid)
		*batch = appendInvalid(*batch, line)
		return nil
	}
	switch cmd.Kind {
	case proto.IAMAT:
		c.iamat(batch, line, cmd)
	case proto.WHATSAT:
		return c.whatsat(batch, line, cmd)
	}
	return nil
}

func appendInvalid(dst, line []byte) []byte {
	dst = append(dst, "? "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}

func (c *conn) iamat(batch *[]byte, line []byte, cmd proto.Command) {
	r, stored, err := c.s.Iamat(cmd)
	if err != nil {
		*batch = appendInvalid(*batch, line)
		return
	}
	*batch = append(*batch, r.Line...)
	*batch = append(*batch, '\n')
	if stored {
		c.s.Flood(r) // the reply is queued first
	}
}

// Iamat runs a parsed IAMAT for any door of the node (the TCP port, the
// NATS service): it builds the AT line from the node's clock and stores it
// if it is newer than the client's record; stored reports whether it was.
// The caller queues its reply, then hands a stored record to Flood. The
// only error is ErrTimeRange; the caller answers it as an invalid command.
func (s *Server) Iamat(cmd proto.Command) (r record.Record, stored bool, err error) {
	cfg := &s.cfg
	diff, ok := record.Diff(cfg.Clock.Now().UnixNano(), cmd.Time)
	if !ok {
		cfg.Observe.Command(CommandIAMAT, OutcomeInvalid)
		return record.Record{}, false, ErrTimeRange
	}
	r = record.Build(cfg.Name, diff, cmd.Client, cmd.Location, cmd.Time)
	stored = cfg.Store.Put(r)
	if stored {
		cfg.Observe.Command(CommandIAMAT, OutcomeStored)
	} else {
		cfg.Observe.Command(CommandIAMAT, OutcomeStale)
	}
	return r, stored, nil
}

// Flood hands a record an IAMAT stored to Config.Stored (the bus), once
// the IAMAT's reply is queued.
func (s *Server) Flood(r record.Record) {
	if s.cfg.Stored != nil {
		s.cfg.Stored(r)
	}
}

func (c *conn) whatsat(batch *[]byte, line []byte, cmd proto.Command) *reply {
	rec, q, err := c.s.WhatsatQuery(cmd)
	if err != nil {
		*batch = appendInvalid(*batch, line)
		return nil
	}
	r := &reply{done: make(chan struct{})}
	c.lookup.Add(1)
	go func() {
		defer c.lookup.Done()
		defer close(r.done)
		r.buf = RenderWhatsat(rec, Search(c.ctx, c.s.cfg.Places, q))
		if c.debug {
			c.logOutput(r.buf)
		}
	}()
	return r
}

// WhatsatQuery is the synchronous half of a parsed WHATSAT, for any door:
// the client's stored record and the Places query around it. It fails
// with ErrUnknownClient (or ErrBadRecord); the caller answers it as an
// invalid command. The caller then runs Search with Places.
func (s *Server) WhatsatQuery(cmd proto.Command) (record.Record, places.Query, error) {
	cfg := &s.cfg
	rec, ok := cfg.Store.Get(string(cmd.Client))
	if !ok {
		cfg.Observe.Command(CommandWHATSAT, OutcomeUnknownClient)
		return record.Record{}, places.Query{}, ErrUnknownClient
	}
	lat, lng, ok := record.LatLng(rec.Location())
	km, err := strconv.ParseFloat(string(cmd.Radius), 64)
	if !ok || err != nil {
		// Stored locations and parsed radii are valid decimals; this
		// cannot happen, but a bad record must not take the node down.
		cfg.Observe.Command(CommandWHATSAT, OutcomeInvalid)
		return record.Record{}, places.Query{}, ErrBadRecord
	}
	cfg.Observe.Command(CommandWHATSAT, OutcomeAnswered)
	return rec, places.Query{Lat: lat, Lng: lng, RadiusM: km * 1000, Limit: cmd.Limit}, nil
}

// Places is the provider answering this server's WHATSATs.
func (s *Server) Places() places.Provider { return s.cfg.Places }

// Search asks p and turns a failed call into an UNKNOWN_ERROR response, so
// the client always gets a JSON body.
func Search(ctx context.Context, p places.Provider, q places.Query) places.Response {
	resp, err := p.Nearby(ctx, q)
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
	if resp.Status == "" {
		resp.Status = places.StatusOK
		if len(resp.Results) == 0 {
			resp.Status = places.StatusZeroResults
		}
	}
	return resp
}

// jsonIndent is three spaces, the indent of Google's own Nearby Search
// responses that classic clients were written against.
const jsonIndent = "   "

// RenderWhatsat renders a WHATSAT reply: the stored AT line, the response
// as indented JSON (which never holds a blank line: newlines inside
// strings are escaped), and a blank line.
func RenderWhatsat(rec record.Record, resp places.Response) []byte {
	var out bytes.Buffer
	out.Grow(len(rec.Line) + 2048)
	out.WriteString(rec.Line)
	out.WriteByte('\n')
	enc := json.NewEncoder(&out)
	enc.SetIndent("", jsonIndent)
	// Google writes "<" and "&" as they are; so does the herd.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		// A provider produced a result that is not valid JSON; the client
		// still gets a well-formed body saying so.
		out.Truncate(len(rec.Line) + 1)
		_ = enc.Encode(places.Failure(places.StatusUnknownError, "places provider returned malformed results"))
	}
	// Encode ended the JSON with one newline; the reply ends with two.
	out.WriteByte('\n')
	return out.Bytes()
}
