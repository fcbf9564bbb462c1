// Package wait is the herd's one polling helper for tests: wait until a
// condition holds, rather than sleep and hope. It imports nothing of the
// herd, so the tests of every package can use it.
package wait

import (
	"errors"
	"testing"
	"time"
)

// Timeout is how long For polls: far beyond what any condition in a
// healthy test needs on a loaded machine.
const Timeout = 10 * time.Second

// poll is the pause between two checks.
const poll = 2 * time.Millisecond

var errNotYet = errors.New("condition not met")

// For polls cond until it holds, and fails the test naming what after
// Timeout.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Timeout, what, cond)
}

// Within is For with its own timeout, and returns how long cond took.
func Within(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Check(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// Check polls check until it returns nil, and fails the test with what
// and check's last error after timeout. It returns how long it took.
func Check(t testing.TB, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(poll)
	}
}
