// Package service is the herd's second door: IAMAT and WHATSAT as a NATS
// micro service (github.com/nats-io/nats.go/micro), so that any NATS
// client — any language, or a browser over WebSocket — can use the herd.
//
// Every node runs the service under one name and one queue group, so a
// request to herd.iamat or herd.whatsat is answered by exactly one node,
// and `nats micro ls` lists one instance per node. Requests are JSON (or a
// classic protocol line); replies are JSON; refusals are micro errors with
// codes 400 (invalid command), 404 (unknown client) and 500.
//
// The service is a thin door over the node's command core (node/core), as
// the TCP port is: it parses a request, runs it on the core and renders
// the reply, so both doors share one clock, store, flood, AT line and
// rules for what is valid.
package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/proto"
)

// Names of the service, its queue group and its endpoints' subjects.
const (
	Name           = "herd"
	QueueGroup     = "herd"
	SubjectIAMAT   = "herd.iamat"
	SubjectWHATSAT = "herd.whatsat"
	// Version is the service's API version (semver, as micro requires).
	Version = "1.0.0"
)

// Error codes of refused requests, HTTP-like as is usual with micro.
const (
	CodeInvalid       = "400"
	CodeUnknownClient = "404"
	CodeInternal      = "500"
)

// Errors of Validate and the lifecycle, in one block.
var (
	ErrInvalidConfig = errors.New("invalid service config")
	ErrStarted       = errors.New("service already started")
	ErrClosed        = errors.New("service closed")
	// errWrongCommand: a valid command sent to the other endpoint.
	errWrongCommand = errors.New("not this endpoint's command")
)

// Config of one node's service instance.
type Config struct {
	Node string // the node's name, in the service metadata
	// MaxConcurrent bounds WHATSAT searches in flight; further requests
	// wait (the subscription queues them).
	MaxConcurrent int
	// Timeout bounds one WHATSAT's Places search.
	Timeout time.Duration
	// Logger: nil discards. At debug level it records every request and
	// reply.
	Logger *slog.Logger
}

// DefaultConfig returns the limits. Node must be set.
func DefaultConfig() Config {
	return Config{MaxConcurrent: 256, Timeout: 30 * time.Second}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	switch {
	case !record.ValidName(c.Node):
		return fmt.Errorf("%w: Node %q is not a NATS token", ErrInvalidConfig, c.Node)
	case c.MaxConcurrent < 1:
		return fmt.Errorf("%w: MaxConcurrent must be at least 1", ErrInvalidConfig)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Timeout must be positive", ErrInvalidConfig)
	}
	return nil
}

// Service is one node's instance of the herd service.
type Service struct {
	cfg    Config
	conn   *nats.Conn
	core   *core.Core
	sem    chan struct{} // WHATSAT searches in flight
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // WHATSAT searches

	mu     sync.Mutex // guards svc, closed
	svc    micro.Service
	closed bool
}

// New validates cfg. The service answers on conn, a connection to the
// node's own NATS server, and runs its requests on c. It does no I/O.
func New(cfg Config, conn *nats.Conn, c *core.Core) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if conn == nil || c == nil {
		return nil, fmt.Errorf("%w: nil conn or core", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, conn: conn, core: c, sem: make(chan struct{}, cfg.MaxConcurrent), ctx: ctx, cancel: cancel}, nil
}

// Start registers the service and its endpoints and returns once the
// server has their subscriptions.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.svc != nil:
		return ErrStarted
	}
	svc, err := micro.AddService(s.conn, micro.Config{
		Name:        Name,
		Version:     Version,
		Description: "herd location service: the classic IAMAT and WHATSAT, JSON in and out",
		QueueGroup:  QueueGroup,
		Metadata:    map[string]string{"node": s.cfg.Node},
	})
	if err != nil {
		return fmt.Errorf("add service: %w", err)
	}
	for _, e := range []struct {
		name, subject, schema string
		h                     micro.HandlerFunc
	}{
		{"iamat", SubjectIAMAT, `{"client":"kiwi.cs.ucla.edu","location":"+34.068930-118.445127","time":"1621464827.959498503"}`, s.iamat},
		{"whatsat", SubjectWHATSAT, `{"client":"kiwi.cs.ucla.edu","radius":10,"limit":5}`, s.whatsat},
	} {
		err := svc.AddEndpoint(e.name, e.h, micro.WithEndpointSubject(e.subject),
			micro.WithEndpointMetadata(map[string]string{"request": e.schema, "classic": "also accepts the classic protocol line"}))
		if err != nil {
			svc.Stop()
			return fmt.Errorf("add endpoint %s: %w", e.name, err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.conn.FlushWithContext(fctx); err != nil {
		svc.Stop()
		return fmt.Errorf("flush service subscriptions: %w", err)
	}
	s.svc = svc
	return nil
}

// Close stops the service, cancels WHATSAT searches in flight and waits
// for them. It is safe to call more than once; it does not close Conn.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	svc := s.svc
	s.mu.Unlock()
	var err error
	if svc != nil {
		if serr := svc.Stop(); serr != nil && !errors.Is(serr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("stop service: %w", serr)
		}
	}
	s.cancel()
	s.wg.Wait()
	return err
}

// IamatRequest is the JSON body of a herd.iamat request. Time is the
// client's POSIX time, a JSON string or number, kept as its exact text.
type IamatRequest struct {
	Client   ClientName `json:"client"`
	Location string     `json:"location"`
	Time     Decimal    `json:"time"`
}

// IamatReply answers herd.iamat: the AT line (what the TCP port answers)
// and whether it was newer than the record held (and so flooded).
type IamatReply struct {
	AT     string `json:"at"`
	Stored bool   `json:"stored"`
}

// WhatsatRequest is the JSON body of a herd.whatsat request: radius in km
// (0 < radius ≤ 50) and at most limit results (1..20).
type WhatsatRequest struct {
	Client ClientName `json:"client"`
	Radius Decimal    `json:"radius"`
	Limit  Decimal    `json:"limit"`
}

// WhatsatReply answers herd.whatsat: the client's stored AT line and the
// classic Nearby Search response, the same two parts as the TCP reply.
type WhatsatReply struct {
	AT     string          `json:"at"`
	Places places.Response `json:"places"`
}

func (s *Service) iamat(req micro.Request) {
	cmd, line, ok := s.parse(req, proto.IAMAT, func(data []byte) ([]string, error) {
		var r IamatRequest
		err := strictDecode(data, &r)
		return []string{"IAMAT", string(r.Client), r.Location, string(r.Time)}, err
	})
	if !ok {
		return
	}
	var reply IamatReply
	t, err := s.core.Iamat(cmd, func(rec record.Record, stored bool) {
		reply = IamatReply{AT: rec.Line, Stored: stored}
	})
	switch {
	case err != nil:
		s.refuse(req, CodeInvalid, "invalid IAMAT: "+err.Error(), line)
	case t == nil:
		s.respond(req, reply)
	default:
		// The reply waits until the record is as durable as the node
		// promises (fsync always: on disk), off the endpoint's goroutine
		// so that the requests behind it share the fsync. A record the
		// disk refused is answered anyway (the node serves from memory).
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if t.Wait(s.ctx) != nil && s.ctx.Err() != nil {
				return // closing: no acknowledgement
			}
			s.respond(req, reply)
		}()
	}
}

func (s *Service) whatsat(req micro.Request) {
	cmd, line, ok := s.parse(req, proto.WHATSAT, func(data []byte) ([]string, error) {
		var r WhatsatRequest
		err := strictDecode(data, &r)
		return []string{"WHATSAT", string(r.Client), string(r.Radius), string(r.Limit)}, err
	})
	if !ok {
		return
	}
	l, err := s.core.Whatsat(cmd)
	switch {
	case errors.Is(err, core.ErrUnknownClient):
		s.refuse(req, CodeUnknownClient, "unknown client", line)
		return
	case err != nil:
		s.refuse(req, CodeInternal, "whatsat failed", line)
		return
	}
	// A slow Places search must not hold up the endpoint's other
	// requests: search concurrently, at most MaxConcurrent at once.
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		s.refuse(req, CodeInternal, "service closing", nil)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
		defer cancel()
		s.respond(req, WhatsatReply{AT: l.Record.Line, Places: s.core.Search(ctx, l)})
	}()
}

// parse reads a request as JSON (a body starting with '{') or as a classic
// protocol line, and checks it is the endpoint's command. Either way the
// command goes through the core's parser, so both doors accept exactly
// the same commands (and count the ones they refuse alike; a body the JSON
// decoder refuses shows in the endpoint's micro stats instead). On failure
// it answers the request and returns false.
func (s *Service) parse(req micro.Request, kind proto.Kind, fields func([]byte) ([]string, error)) (proto.Command, []byte, bool) {
	s.logInput(req)
	data := bytes.TrimSpace(req.Data())
	line := data
	if len(data) > 0 && data[0] == '{' {
		f, err := fields(data)
		if err != nil {
			s.refuse(req, CodeInvalid, "invalid JSON request: "+oneLine(err.Error()), nil)
			return proto.Command{}, nil, false
		}
		for _, v := range f[1:] {
			// A field holding whitespace would shift the classic fields.
			if v == "" || bytes.ContainsAny([]byte(v), " \t\r\n\f\v") {
				s.refuse(req, CodeInvalid, "invalid JSON request: every field must be set, without whitespace", nil)
				return proto.Command{}, nil, false
			}
		}
		line = []byte(f[0] + " " + f[1] + " " + f[2] + " " + f[3])
	}
	cmd, err := s.core.Parse(line)
	if err == nil && cmd.Kind != kind {
		s.core.Invalid()
		err = errWrongCommand
	}
	if err != nil {
		s.refuse(req, CodeInvalid, "invalid command", line)
		return proto.Command{}, nil, false
	}
	return cmd, line, true
}

// refuse answers with a micro error; data, when set, is the classic "?"
// reply for the command line.
func (s *Service) refuse(req micro.Request, code, desc string, line []byte) {
	var data []byte
	if line != nil {
		data = append([]byte("? "), line...)
	}
	s.logOutput(req, code+" "+desc+" "+string(data))
	// Errors go to the requester; a failed respond has nobody to tell.
	_ = req.Error(code, desc, data)
}

// logInput and logOutput record service traffic at debug level, as the
// TCP port records its clients' (the node's log file).
func (s *Service) logInput(req micro.Request) {
	if s.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.cfg.Logger.LogAttrs(context.Background(), slog.LevelDebug, "service input",
			slog.String("subject", req.Subject()), slog.String("reply_to", req.Reply()), slog.String("data", string(req.Data())))
	}
}

func (s *Service) logOutput(req micro.Request, out string) {
	if s.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.cfg.Logger.LogAttrs(context.Background(), slog.LevelDebug, "service output",
			slog.String("reply_to", req.Reply()), slog.String("text", out))
	}
}

func (s *Service) respond(req micro.Request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as the TCP reply: "<" and "&" as they are
	if err := enc.Encode(v); err != nil {
		_ = req.Error(CodeInternal, "encode reply", nil)
		return
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	s.logOutput(req, string(out))
	if err := req.Respond(out); err != nil {
		s.cfg.Logger.Debug("service reply not sent", "err", err)
	}
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// oneLine keeps an error description on one line (it travels in a header).
func oneLine(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, []byte(s)))
}

// Decimal is a number field that keeps its exact text: a JSON string
// ("1621464827.959498503") or a JSON number literal (1621464827.959498503,
// 10), never rounded through float64.
type Decimal string

// UnmarshalJSON accepts a string or a number literal.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Decimal(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a number or a string: %w", err)
	}
	*d = Decimal(n)
	return nil
}
