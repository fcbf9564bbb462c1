package server

import (
	"bytes"
	"encoding/json"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/proto"
)

// handle runs one line on the core. Replies that are ready at once are
// appended to batch; a WHATSAT returns a pending reply that is filled
// concurrently so that a slow Places call does not hold up reading.
func (c *conn) handle(batch *[]byte, line []byte) *reply {
	cmd, err := c.s.core.Parse(line)
	if err != nil {
		*batch = appendInvalid(*batch, line)
		return nil
	}
	switch cmd.Kind {
	case proto.IAMAT:
		t, err := c.s.core.Iamat(cmd, func(r record.Record, _ bool) {
			*batch = append(*batch, r.Line...)
			*batch = append(*batch, '\n')
		})
		switch {
		case err != nil:
			*batch = appendInvalid(*batch, line)
		case t != nil:
			c.ticket = t // the batch is sent once this record is durable
		}
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

func (c *conn) whatsat(batch *[]byte, line []byte, cmd proto.Command) *reply {
	l, err := c.s.core.Whatsat(cmd)
	if err != nil {
		*batch = appendInvalid(*batch, line)
		return nil
	}
	r := &reply{done: make(chan struct{})}
	c.lookup.Add(1)
	go func() {
		defer c.lookup.Done()
		defer close(r.done)
		r.buf = RenderWhatsat(l.Record, c.s.core.Search(c.ctx, l))
		if c.debug {
			c.logOutput(r.buf)
		}
	}()
	return r
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
