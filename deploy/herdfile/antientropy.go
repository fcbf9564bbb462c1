package herdfile

import (
	"time"

	"github.com/herdhq/herd/bus/antientropy"
)

// AntiEntropy tunes how nodes reconcile with their neighbors (package
// bus/antientropy).
// They always sync when a node starts and when a neighbor's route comes
// (back) up; these settings are about the periodic rounds.
type AntiEntropy struct {
	// Interval is the mean time between periodic rounds with each
	// neighbor; 0 turns periodic rounds off.
	Interval time.Duration `yaml:"interval"`
	// Jitter spreads rounds by ± this fraction of Interval, in [0, 1).
	Jitter float64 `yaml:"jitter"`
	// Timeout bounds the wait for each reply of an exchange.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultAntiEntropy is anti-entropy's own default: a round every 5 s ±
// 20% with 2 s replies.
func DefaultAntiEntropy() AntiEntropy {
	d := antientropy.DefaultConfig()
	return AntiEntropy{Interval: d.Interval, Jitter: d.Jitter, Timeout: d.Timeout}
}

func (a AntiEntropy) validate(p *problems) {
	if a.Interval < 0 {
		p.add("antientropy.interval", ErrBadLimit, "%v, want >= 0 (0: no periodic rounds)", a.Interval)
	}
	if !(a.Jitter >= 0 && a.Jitter < 1) {
		p.add("antientropy.jitter", ErrBadLimit, "%v, want 0 <= jitter < 1", a.Jitter)
	}
	if a.Timeout <= 0 {
		p.add("antientropy.timeout", ErrBadLimit, "%v, want > 0", a.Timeout)
	}
}

// RepairBound is antientropy.Config.RepairBound for these settings (and
// anti-entropy's own settle age, which the herd file does not set).
func (a AntiEntropy) RepairBound() time.Duration {
	c := antientropy.DefaultConfig()
	c.Interval, c.Jitter, c.Timeout = a.Interval, a.Jitter, a.Timeout
	return c.RepairBound()
}
