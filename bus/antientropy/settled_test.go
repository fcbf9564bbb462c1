package antientropy

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// received is an AT line of origin for client whose origin received it at
// when (client time 1, the difference making up the rest).
func received(origin, client string, when time.Time) string {
	return fmt.Sprintf("AT %s +%d.%09d %s +1+1 1", origin, when.Unix()-1, when.Nanosecond(), client)
}

// settledPair starts A and B with the same old records, waits for their
// start-up exchanges, and then gives A alone a fresh record and an old
// one: what the flood would still be delivering, and what it lost.
func settledPair(t *testing.T, mod func(*Config)) (stB *bustest.Store, obsA *syncCounts, fresh, lost string) {
	t.Helper()
	var same []string
	for i := range 50 {
		same = append(same, at("A", fmt.Sprintf("c%d", i), "5"))
	}
	stA, stB, obsA, obsB := syncPair(t, same, same, mod)
	// Both start-up exchanges (of every record) done: later ones are
	// periodic. (A's rounds with C, which is nobody, fail.)
	wait.For(t, "start-up exchanges", func() bool {
		_, inA, _, _ := obsA.snapshot()
		_, inB, _, _ := obsB.snapshot()
		return inA >= 1 && inB >= 1
	})
	fresh = received("A", "fresh", time.Now())
	lost = received("A", "lost", time.Now().Add(-time.Hour))
	stA.Put(bustest.MustRecord(t, fresh))
	stA.Put(bustest.MustRecord(t, lost))
	return stB, obsA, fresh, lost
}

// Periodic exchanges compare settled records only: a record younger than
// SettleAge (still travelling by the flood) is no difference, and the
// exchanges stay one request in sync; a record older than that which the
// peer lacks is repaired.
func TestAntiEntropy_PeriodicComparesSettled(t *testing.T) {
	stB, obsA, fresh, lost := settledPair(t, func(c *Config) {
		c.Interval, c.Jitter, c.SettleAge = 20*time.Millisecond, 0, time.Minute
	})
	wait.For(t, "the old record repaired", func() bool { return stB.Line("lost") == lost })
	ok := func() int { // rounds with B that did not fail
		obsA.mu.Lock()
		defer obsA.mu.Unlock()
		return obsA.rounds - len(obsA.errs)
	}
	r0, in0 := ok(), 0
	_, in0, _, _ = obsA.snapshot()
	wait.For(t, "ten more rounds with B", func() bool { return ok() >= r0+10 })
	r1 := ok()
	_, in1, _, _ := obsA.snapshot()
	if in1-in0 < r1-r0-1 {
		t.Errorf("%d of %d periodic rounds with B in sync; want all (but one in flight)", in1-in0, r1-r0)
	}
	if got := stB.Line("fresh"); got != "" {
		t.Errorf("a record younger than SettleAge was exchanged: B has %q (A: %q)", got, fresh)
	}
}

// With SettleAge 0 every periodic exchange compares every record: the
// fresh record is exchanged too (what the settled scheme avoids).
func TestAntiEntropy_SettleAgeZeroComparesAll(t *testing.T) {
	stB, _, fresh, _ := settledPair(t, func(c *Config) {
		c.Interval, c.Jitter, c.SettleAge = 20*time.Millisecond, 0, 0
	})
	wait.For(t, "the fresh record exchanged", func() bool { return stB.Line("fresh") == fresh })
}

// Nodes whose clocks differ by less than the tolerated skew agree on a
// cutoff (the one behind catches up); beyond it the exchange fails with
// ErrCutoff rather than compare different sets.
func TestAntiEntropy_CutoffSkew(t *testing.T) {
	for _, c := range []struct {
		skew time.Duration
		fail bool
	}{{1500 * time.Millisecond, false}, {10 * time.Second, true}} {
		t.Run(c.skew.String(), func(t *testing.T) {
			ns := bustest.StartNATS(t)
			cfg := func(behind time.Duration) func(*Config) {
				return func(cf *Config) {
					cf.Interval, cf.Jitter, cf.SettleAge = 20*time.Millisecond, 0, time.Second
					cf.Now = func() time.Time { return time.Now().Add(-behind) }
				}
			}
			a := startNode(t, ns, "A", []string{"B"}, cfg(c.skew))
			startNode(t, ns, "B", []string{"A"}, cfg(0))
			wait.For(t, "periodic rounds", func() bool { r, _, _, _ := a.obs.snapshot(); return r >= 10 })
			a.obs.mu.Lock()
			defer a.obs.mu.Unlock()
			cutoffErrs := 0
			for _, err := range a.obs.errs {
				if errors.Is(err, ErrCutoff) {
					cutoffErrs++
				}
			}
			if c.fail && cutoffErrs == 0 {
				t.Errorf("clocks %s apart: no ErrCutoff in %d rounds (errors %v)", c.skew, a.obs.rounds, a.obs.errs)
			}
			if !c.fail && (cutoffErrs > 0 || a.obs.inSync < a.obs.rounds-len(a.obs.errs)) {
				t.Errorf("clocks %s apart: %d rounds, %d in sync, errors %v", c.skew, a.obs.rounds, a.obs.inSync, a.obs.errs)
			}
		})
	}
}
