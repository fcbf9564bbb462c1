package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/bustest"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// TestBus_Linger: a busy publisher gathers records for Linger, so records
// published back to back travel in few messages, and all arrive.
func TestBus_Linger(t *testing.T) {
	ns := bustest.StartNATS(t)
	_, st, _ := startBus(t, ns, "N", []string{"Origin"}, nil)
	origin, _, obs := startBus(t, ns, "Origin", []string{"N"}, func(c *Config) { c.Linger = 20 * time.Millisecond })
	const n = 200
	for i := range n {
		origin.Publish(bustest.MustRecord(t, fmt.Sprintf("AT Origin +0.263873386 c%d +34.068930-118.445127 1621464827.%09d", i, i)))
	}
	wait.For(t, "every record at N", func() bool {
		for i := range n {
			if st.Line(fmt.Sprintf("c%d", i)) == "" {
				return false
			}
		}
		return true
	})
	// The first record goes at once; the rest wait for one linger round
	// at most a few rounds, far fewer than one message per record.
	if got := obs.published.Load(); got > 10 {
		t.Errorf("%d messages for %d records published back to back with a linger", got, n)
	}
}

func TestAdapt(t *testing.T) {
	const widest = 2 * time.Millisecond
	for _, c := range []struct {
		window            time.Duration
		records, messages int
		want              time.Duration
	}{
		{250 * time.Microsecond, 3, 3, 500 * time.Microsecond}, // one record a message: wider
		{time.Millisecond, 3, 1, 2 * time.Millisecond},
		{2 * time.Millisecond, 1, 1, 2 * time.Millisecond},       // no wider than Linger
		{2 * time.Millisecond, 40, 2, 1 * time.Millisecond},      // many a message: narrower
		{250 * time.Microsecond, 400, 2, 250 * time.Microsecond}, // no narrower than Linger/8
		{time.Millisecond, 16, 2, time.Millisecond},              // in between: kept
		{time.Millisecond, 0, 0, time.Millisecond},               // nothing published
		{0, 5, 5, 250 * time.Microsecond},
	} {
		if got := adapt(c.window, widest, c.records, c.messages); got != c.want {
			t.Errorf("adapt(%s, %d records in %d messages) = %s, want %s", c.window, c.records, c.messages, got, c.want)
		}
	}
	if got := adapt(0, 0, 1, 1); got != 0 {
		t.Errorf("Linger 0: window %s", got)
	}
}
