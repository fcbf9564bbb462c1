package bus

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestBus_Linger: a busy publisher gathers records for Linger, so records
// published back to back travel in few messages, and all arrive.
func TestBus_Linger(t *testing.T) {
	ns := startNATS(t)
	_, st, _ := startBus(t, ns, "N", []string{"Origin"}, nil)
	origin, _, obs := startBus(t, ns, "Origin", []string{"N"}, func(c *Config) { c.Linger = 20 * time.Millisecond })
	const n = 200
	for i := range n {
		origin.Publish(mustRecord(t, fmt.Sprintf("AT Origin +0.263873386 c%d +34.068930-118.445127 1621464827.%09d", i, i)))
	}
	waitFor(t, "every record at N", func() bool {
		for i := range n {
			if st.get(fmt.Sprintf("c%d", i)) == "" {
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

func TestConfig_ValidateLinger(t *testing.T) {
	nc, err := startNATS(t).Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tt := range []struct {
		linger time.Duration
		ok     bool
	}{{-time.Millisecond, false}, {0, true}, {time.Millisecond, true}, {2 * time.Second, false}} {
		c := DefaultConfig()
		c.Name, c.Store, c.Conn, c.Linger = "N", &mapStore{}, nc, tt.linger
		err := c.Validate()
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("Linger %s: Validate() = %v", tt.linger, err)
		}
	}
}
