// Package wait is the herd's one polling helper for tests: wait until a
// condition holds, rather than sleep and hope. It imports nothing of the
// herd, so the tests of every package can use it.
package wait

import (
	"testing"
	"time"
)

// Timeout is how long For polls: far beyond what any condition in a
// healthy test needs on a loaded machine.
const Timeout = 10 * time.Second

// poll is the pause between two checks.
const poll = 2 * time.Millisecond

// For polls cond until it holds, and fails the test naming what after
// Timeout.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Timeout, what, cond)
}

// Within is For with its own timeout, and returns how long cond took.
func Within(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(poll)
	}
	return time.Since(start)
}
