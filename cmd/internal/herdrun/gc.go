package herdrun

import "runtime/debug"

// DefaultGOGC is the garbage collector's target a herd process runs with
// when the GOGC environment variable does not say otherwise. The record
// store holds no pointers per record (node/store), so a collection costs
// little whatever the number of clients, and a lower target than Go's 100
// trades a little CPU for memory: with a million clients on each of five
// nodes in one process, GOGC=50 held RSS at about 265 B per record
// against 325 B at 100, for GC at about 1% of the herd's CPU once the
// store is filled (BENCHMARKS.md, 2026-11-30). GOMEMLIMIT, when set,
// still applies.
const DefaultGOGC = 50

// TuneGC sets DefaultGOGC unless getenv("GOGC") is set.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGOGC)
	}
}
