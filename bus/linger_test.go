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
