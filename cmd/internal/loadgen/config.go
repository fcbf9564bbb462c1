// Package loadgen drives a herd through its client ports only, so it
// measures any implementation of the classic protocol: pipelined IAMATs
// (with an optional WHATSAT mix), one connection per request with
// half-close as the classic graders do, and a flood-convergence probe. It
// records latencies in an HDR-style histogram and can verify afterwards
// that every accepted record reached every node.
package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// Errors of Validate and Run, in one block.
var (
	ErrInvalidConfig = errors.New("invalid load generator config")
	ErrVerifyFailed  = errors.New("verification failed")
)

// Mode is what the generator sends.
type Mode string

// Modes.
const (
	// ModePipeline keeps Window commands outstanding on each of Conns
	// long-lived connections.
	ModePipeline Mode = "pipeline"
	// ModeOneShot opens one connection per IAMAT, sends it, and closes as
	// Close says; Conns workers do so concurrently.
	ModeOneShot Mode = "oneshot"
	// ModeProbe measures flood convergence: an IAMAT at the first node,
	// then the time until every other node has the record. Rate > 0 runs
	// a pipelined background load at that rate meanwhile.
	ModeProbe Mode = "probe"
)

// CloseMode is how a one-shot connection ends.
type CloseMode string

// Close modes.
const (
	// CloseHalf sends the line, half-closes, reads to EOF and closes: the
	// classic graders' style. The client closes first, so the TIME_WAIT
	// state stays on the client side.
	CloseHalf CloseMode = "half"
	// CloseReset sends the line, reads the one-line reply and aborts the
	// connection (SO_LINGER 0): no TIME_WAIT on either side.
	CloseReset CloseMode = "reset"
)

// VerifyMode says which accepted records are checked on every node after
// the load.
type VerifyMode string

// Verify modes.
const (
	VerifyNone   VerifyMode = "none"
	VerifySample VerifyMode = "sample"
	VerifyAll    VerifyMode = "all"
)

// ProbeVia is how the probe sees a record arrive at a node.
type ProbeVia string

// Probe methods.
const (
	// ProbeWhatsat polls WHATSAT on every other node's client port.
	ProbeWhatsat ProbeVia = "whatsat"
	// ProbeNATS watches herd.at.> on NATSURL and counts a node as having
	// the record when a flood message carrying it is delivered to it.
	ProbeNATS ProbeVia = "nats"
)

// Config of one run.
type Config struct {
	// Addrs are the nodes' client ports. Connections are spread over them
	// round-robin; the probe sends its IAMATs to Addrs[0].
	Addrs []string
	Mode  Mode
	// Conns is the number of connections (pipeline) or concurrent
	// connecting workers (oneshot).
	Conns int
	// Window is the number of commands outstanding per connection.
	Window int
	// Clients is the number of distinct client names; each connection
	// cycles through its own share of them.
	Clients int
	// Duration bounds the load; Count, when positive, stops it after that
	// many requests instead (whichever comes first).
	Duration time.Duration
	Count    int
	// Rate caps the aggregate request rate per second; 0 is unlimited.
	Rate float64
	// WhatsatFraction of pipelined commands are WHATSATs for a client this
	// connection already reported, in [0, 1].
	WhatsatFraction float64
	Close           CloseMode

	// Probes is the number of convergence probes (ModeProbe), taken every
	// ProbeInterval; each waits at most ProbeTimeout.
	Probes        int
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	ProbeVia      ProbeVia
	// ProbePoll is the pause between two WHATSAT polls of one node.
	ProbePoll time.Duration
	// NATSURL is a node's NATS client port, for ProbeNATS.
	NATSURL string
	// MetricsURLs are the nodes' monitor ports (http://host:port): when
	// set, the run scrapes their /metrics before and after the load and
	// reports the herd's CPU, GC share, memory and flood counters.
	MetricsURLs []string

	Verify VerifyMode
	// VerifySample is the number of clients checked with VerifySample.
	VerifySample int
	// Settle is how long after the load verification waits for records
	// still in flight, or lost and being repaired by anti-entropy, before
	// it counts a record as missing; a record missing at its first check
	// is checked at least once more after the first pass over every
	// client (which alone can take longer).
	Settle time.Duration

	// Prefix starts every client name. Run-unique by default, so records
	// of earlier runs (with later times) never shadow this run's.
	Prefix string
	// ReplyTimeout fails a connection whose reply does not come in time.
	ReplyTimeout time.Duration
	DialTimeout  time.Duration
}

// DefaultConfig is a 10-second pipelined run over 16 connections with a
// window of 64 and sampled verification. Addrs must be set.
func DefaultConfig() Config {
	return Config{
		Mode:          ModePipeline,
		Conns:         16,
		Window:        64,
		Clients:       100_000,
		Duration:      10 * time.Second,
		Close:         CloseHalf,
		Probes:        1000,
		ProbeInterval: 2 * time.Millisecond,
		ProbeTimeout:  5 * time.Second,
		ProbeVia:      ProbeWhatsat,
		ProbePoll:     0,
		Verify:        VerifySample,
		VerifySample:  10_000,
		Settle:        10 * time.Second,
		ReplyTimeout:  30 * time.Second,
		DialTimeout:   5 * time.Second,
	}
}

// Validate checks c and names the first bad field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case len(c.Addrs) == 0:
		return bad("Addrs is empty")
	case c.Mode != ModePipeline && c.Mode != ModeOneShot && c.Mode != ModeProbe:
		return bad("Mode %q is not pipeline, oneshot or probe", c.Mode)
	case c.Conns < 1:
		return bad("Conns must be at least 1")
	case c.Window < 1:
		return bad("Window must be at least 1")
	case c.Clients < c.Conns:
		return bad("Clients (%d) must be at least Conns (%d)", c.Clients, c.Conns)
	case c.Duration <= 0 && c.Count <= 0:
		return bad("one of Duration and Count must be positive")
	case c.Rate < 0:
		return bad("Rate must not be negative")
	case c.WhatsatFraction < 0 || c.WhatsatFraction > 1:
		return bad("WhatsatFraction %v is not in [0, 1]", c.WhatsatFraction)
	case c.Close != CloseHalf && c.Close != CloseReset:
		return bad("Close %q is not half or reset", c.Close)
	case c.Mode == ModeProbe && len(c.Addrs) < 2:
		return bad("Addrs: the probe needs at least two nodes")
	case c.Mode == ModeProbe && c.Probes < 1:
		return bad("Probes must be at least 1")
	case c.Mode == ModeProbe && c.ProbeTimeout <= 0:
		return bad("ProbeTimeout must be positive")
	case c.ProbePoll < 0:
		return bad("ProbePoll must not be negative")
	case c.ProbeVia != ProbeWhatsat && c.ProbeVia != ProbeNATS:
		return bad("ProbeVia %q is not whatsat or nats", c.ProbeVia)
	case c.Mode == ModeProbe && c.ProbeVia == ProbeNATS && c.NATSURL == "":
		return bad("NATSURL is empty but ProbeVia is nats")
	case c.Verify != VerifyNone && c.Verify != VerifySample && c.Verify != VerifyAll:
		return bad("Verify %q is not none, sample or all", c.Verify)
	case c.Verify == VerifySample && c.VerifySample < 1:
		return bad("VerifySample must be at least 1")
	case c.Settle < 0:
		return bad("Settle must not be negative")
	case c.ReplyTimeout <= 0:
		return bad("ReplyTimeout must be positive")
	case c.DialTimeout <= 0:
		return bad("DialTimeout must be positive")
	}
	return nil
}
