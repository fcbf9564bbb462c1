// Package googlefake runs local HTTP servers that speak Google's Places wire
// formats — Places API (New) searchNearby and the legacy Nearby Search — so
// that providers, node tests and benchmarks exercise real HTTP against the
// real request and response shapes without a key or network.
//
// Both servers answer deterministically: results are generated around the
// requested point (or taken from a seeded list), honoring the requested
// radius and result count. Tests can inject latency, hold requests until
// released, script a sequence of failures ("429, 429, then OK"), and inspect
// how many calls arrived and what the last one looked like.
package googlefake

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what a fake does with one call, rendered in each server's own
// wire format.
type Outcome int

const (
	// OK serves the call normally: it validates the request like Google
	// (key, field mask, parameters) and answers with places.
	OK Outcome = iota
	// ZeroResults answers successfully with no places ({} for the New API,
	// status ZERO_RESULTS for the legacy API).
	ZeroResults
	// OverQueryLimit is HTTP 429 RESOURCE_EXHAUSTED (New) or status
	// OVER_QUERY_LIMIT (legacy).
	OverQueryLimit
	// RequestDenied is HTTP 403 PERMISSION_DENIED (New) or status
	// REQUEST_DENIED (legacy).
	RequestDenied
	// InvalidRequest is HTTP 400 INVALID_ARGUMENT (New) or status
	// INVALID_REQUEST (legacy).
	InvalidRequest
	// UnknownError is HTTP 500 INTERNAL (New) or status UNKNOWN_ERROR
	// (legacy, HTTP 200).
	UnknownError
	// Unavailable is HTTP 503 from both, as a Google front end answers when
	// the backend is overloaded.
	Unavailable
	// Garbage is HTTP 200 with a body that is not JSON.
	Garbage
)

// String names the outcome as tests print it.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "OK"
	case ZeroResults:
		return "ZeroResults"
	case OverQueryLimit:
		return "OverQueryLimit"
	case RequestDenied:
		return "RequestDenied"
	case InvalidRequest:
		return "InvalidRequest"
	case UnknownError:
		return "UnknownError"
	case Unavailable:
		return "Unavailable"
	case Garbage:
		return "Garbage"
	default:
		return "Outcome(?)"
	}
}

// Request is a captured call, for assertions on what a provider sent.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// Options configures a fake server. The zero value is usable except that
// APIKey must be set for calls to succeed.
type Options struct {
	// APIKey is the only key the server accepts.
	APIKey string
	// Latency is added to every call before answering (the wait ends early
	// if the client goes away or the server closes).
	Latency time.Duration
	// Script is consumed one outcome per call; once it is used up every
	// call is served as OK.
	Script []Outcome
	// Places, when not empty, is the world the server searches: the places
	// within the radius, nearest first. When empty, places are generated
	// deterministically around each requested point.
	Places []Place
	// Seed varies the generated places.
	Seed uint64
}

// maxBody bounds what a fake reads of a request body.
const maxBody = 1 << 20

// core is the part both servers share: counting, capture, scripting,
// latency and holding.
type core struct {
	opts Options
	srv  *httptest.Server

	calls atomic.Int64

	// mu guards last, script and gate.
	mu     sync.Mutex
	last   Request
	script []Outcome
	gate   chan struct{} // non-nil while held; closed on release

	stop     chan struct{} // closed by Close to unblock every waiting handler
	stopOnce sync.Once
}

func newCore(opts Options, h func(w http.ResponseWriter, r *http.Request, body []byte, o Outcome)) *core {
	c := &core{opts: opts, script: append([]Outcome(nil), opts.Script...), stop: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		o, gate := c.record(r, body)
		if !c.wait(r, gate) {
			return
		}
		h(w, r, body, o)
	}))
	return c
}

// record counts the call, captures it and takes the next scripted outcome.
func (c *core) record(r *http.Request, body []byte) (Outcome, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
		Body:     bytes.Clone(body),
	}
	o := OK
	if len(c.script) > 0 {
		o, c.script = c.script[0], c.script[1:]
	}
	c.calls.Add(1)
	return o, c.gate
}

// wait applies the hold gate and the latency; false means the client went
// away or the server is closing, so there is nobody to answer.
func (c *core) wait(r *http.Request, gate chan struct{}) bool {
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return false
		case <-c.stop:
			return false
		}
	}
	if c.opts.Latency > 0 {
		t := time.NewTimer(c.opts.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-c.stop:
			return false
		}
	}
	return true
}

// URL is the base URL to configure a provider with.
func (c *core) URL() string { return c.srv.URL }

// Calls is how many requests the server has received (counted on arrival,
// before any hold or latency).
func (c *core) Calls() int { return int(c.calls.Load()) }

// LastRequest is the most recent request received.
func (c *core) LastRequest() Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.last
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

// SetScript replaces the remaining scripted outcomes.
func (c *core) SetScript(s ...Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script = append([]Outcome(nil), s...)
}

// Hold makes every request arriving from now on wait until Release (or
// until its client gives up). Requests are counted before they wait.
func (c *core) Hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
}

// Release lets every held request proceed and stops holding new ones.
func (c *core) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

// Close unblocks held and delayed requests, then shuts the server down and
// waits for its handlers. Safe to call twice.
func (c *core) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.srv.Close()
}
