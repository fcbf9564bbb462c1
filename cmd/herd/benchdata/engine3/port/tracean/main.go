// Command tracean reads a Go runtime trace (herd up --pprof, /debug/pprof/trace) and prints what
// delays goroutines: scheduling latency (runnable to running) per role (client-port reader and
// writer, bus, nats-server, ...), GC phases, run slices over 2 ms, CPU samples per 50 ms (share in
// the store's compaction and GC), and, given a window (tracean T.trace 2.7s 2.9s), each role's CPU
// per 5 ms. Its own module (golang.org/x/exp/trace): cd here; go build.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

var roles = []struct{ sub, role string }{
	{"server.(*conn).writeLoop", "client-writer"},
	{"server.(*conn).readLoop", "client-reader"},
	{"server.(*conn).whatsat", "whatsat"},
	{"bus.(*Bus).publishLoop", "bus-publish"},
	{"bus.", "bus-other"},
	{"antientropy", "antientropy"},
	{"nats-server", "nats-server"},
	{"nats.go", "nats.go"},
	{"runtime.gcBgMarkWorker", "gc-worker"},
	{"runtime.", "runtime"},
}

func classify(s trace.Stack) string {
	for _, r := range roles {
		for f := range s.Frames() {
			if strings.Contains(f.Func, r.sub) {
				return r.role
			}
		}
	}
	return ""
}

func top(s trace.Stack) string {
	var out []string
	for f := range s.Frames() {
		if strings.HasPrefix(f.Func, "runtime.") || strings.HasPrefix(f.Func, "internal/") || strings.HasPrefix(f.Func, "sync.") {
			continue
		}
		out = append(out, f.Func[strings.LastIndex(f.Func, "/")+1:])
		if len(out) == 3 {
			break
		}
	}
	return strings.Join(out, " < ")
}

type slice struct {
	at, d time.Duration
	g     trace.GoID
	where string
}

var longRuns, gaps, win []slice
var samp []map[string]int
var winA, winB time.Duration

type lat struct {
	at time.Duration
	d  time.Duration
	g  trace.GoID
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(float64(len(ds)-1)*p)]
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	if len(os.Args) > 3 {
		a, _ := time.ParseDuration(os.Args[2])
		b, _ := time.ParseDuration(os.Args[3])
		winA, winB = a, b
	}
	r, err := trace.NewReader(f)
	if err != nil {
		panic(err)
	}
	role := map[trace.GoID]string{}
	runnableAt := map[trace.GoID]trace.Time{}
	var lats []lat
	var t0, tl trace.Time
	rangeStart := map[string]trace.Time{}
	rangeTot := map[string]time.Duration{}
	rangeMax := map[string]time.Duration{}
	rangeN := map[string]int{}
	var gcSpans [][2]time.Duration
	procWake := 0
	running := map[trace.GoID]trace.Time{}
	runTime := map[string]time.Duration{}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		if t0 == 0 {
			t0 = ev.Time()
		}
		if tl != 0 && ev.Time().Sub(tl) > 3*time.Millisecond {
			gaps = append(gaps, slice{at: tl.Sub(t0), d: ev.Time().Sub(tl), where: ev.String()[:min(100, len(ev.String()))]})
		}
		tl = ev.Time()
		switch ev.Kind() {
		case trace.EventStateTransition:
			st := ev.StateTransition()
			switch st.Resource.Kind {
			case trace.ResourceGoroutine:
				id := st.Resource.Goroutine()
				from, to := st.Goroutine()
				if role[id] == "" {
					if c := classify(st.Stack); c != "" {
						role[id] = c
					} else if c := classify(ev.Stack()); c != "" && from == trace.GoRunning {
						role[id] = c
					}
				}
				if to == trace.GoRunnable {
					runnableAt[id] = ev.Time()
				}
				if to == trace.GoRunning {
					running[id] = ev.Time()
					if ta, ok := runnableAt[id]; ok {
						lats = append(lats, lat{at: ta.Sub(t0), d: ev.Time().Sub(ta), g: id})
						delete(runnableAt, id)
					}
				}
				if from == trace.GoRunning {
					if ts, ok := running[id]; ok {
						runTime[fmt.Sprint(id)] += ev.Time().Sub(ts)
						if a, b := ts.Sub(t0), ev.Time().Sub(t0); b > winA && a < winB {
							win = append(win, slice{a, b - a, id, ""})
						}
						if d := ev.Time().Sub(ts); d > 2*time.Millisecond {
							longRuns = append(longRuns, slice{ts.Sub(t0), d, id, top(st.Stack) + " | " + top(ev.Stack())})
						}
						delete(running, id)
					}
				}
			case trace.ResourceProc:
				from, to := st.Proc()
				if from == trace.ProcIdle && to == trace.ProcRunning {
					procWake++
				}
			}
		case trace.EventStackSample:
			b := int(ev.Time().Sub(t0) / (50 * time.Millisecond))
			for len(samp) <= b {
				samp = append(samp, map[string]int{})
			}
			k := "other"
			for f := range ev.Stack().Frames() {
				switch {
				case strings.Contains(f.Func, "store.(*shard).compact"):
					k = "compact"
				case strings.Contains(f.Func, "gcBgMarkWorker") || strings.Contains(f.Func, "gcAssist"):
					k = "gc"
				default:
					continue
				}
				break
			}
			samp[b][k]++
			samp[b]["all"]++
		case trace.EventRangeBegin, trace.EventRangeEnd:
			rg := ev.Range()
			key := rg.Name
			if rg.Scope.Kind == trace.ResourceGoroutine {
				key = fmt.Sprintf("%s/%d", rg.Name, ev.Goroutine())
			}
			if ev.Kind() == trace.EventRangeBegin {
				rangeStart[key] = ev.Time()
			} else if ts, ok := rangeStart[key]; ok {
				d := ev.Time().Sub(ts)
				rangeTot[rg.Name] += d
				rangeN[rg.Name]++
				rangeMax[rg.Name] = max(rangeMax[rg.Name], d)
				if rg.Name == "GC concurrent mark phase" || strings.HasPrefix(rg.Name, "stop-the-world") {
					gcSpans = append(gcSpans, [2]time.Duration{ts.Sub(t0), ev.Time().Sub(t0)})
				}
				delete(rangeStart, key)
			}
		}
	}
	total := tl.Sub(t0)
	fmt.Printf("trace %.2fs, proc idle->running %d (%.0f/s)\n", total.Seconds(), procWake, float64(procWake)/total.Seconds())
	names := slices.Sorted(func(y func(string) bool) {
		for k := range rangeTot {
			if !y(k) {
				return
			}
		}
	})
	for _, k := range names {
		fmt.Printf("range %-45s n=%6d total %9.2fms (%.2f%%) max %8.3fms\n", k, rangeN[k], ms(rangeTot[k]), 100*rangeTot[k].Seconds()/total.Seconds(), ms(rangeMax[k]))
	}
	by := map[string][]time.Duration{}
	for _, l := range lats {
		by[role[l.g]] = append(by[role[l.g]], l.d)
		by["ALL"] = append(by["ALL"], l.d)
	}
	rt := map[string]time.Duration{}
	for id, d := range runTime {
		var g trace.GoID
		fmt.Sscan(id, &g)
		rt[role[g]] += d
	}
	ks := slices.Sorted(func(y func(string) bool) {
		for k := range by {
			if !y(k) {
				return
			}
		}
	})
	fmt.Println("sched latency (runnable -> running) by role:")
	for _, k := range ks {
		ds := by[k]
		slices.Sort(ds)
		fmt.Printf("  %-14s n=%7d (%6.0f/s) p50 %7.1fus p90 %7.1fus p99 %8.1fus p99.9 %8.1fus max %8.2fms  run %7.1fms (%.1f%%)\n", k, len(ds), float64(len(ds))/total.Seconds(),
			us(pct(ds, .5)), us(pct(ds, .9)), us(pct(ds, .99)), us(pct(ds, .999)), ms(ds[len(ds)-1]), ms(rt[k]), 100*rt[k].Seconds()/total.Seconds())
	}
	if winB > 0 {
		const bk = 5 * time.Millisecond
		for t := winA; t < winB; t += bk {
			use := map[string]time.Duration{}
			for _, w := range win {
				a, b := max(w.at, t), min(w.at+w.d, t+bk)
				if b > a {
					use[role[w.g]] += b - a
				}
			}
			fmt.Printf("  %8.3fs", t.Seconds())
			var tot time.Duration
			for _, k := range slices.Sorted(func(y func(string) bool) {
				for k := range use {
					if !y(k) {
						return
					}
				}
			}) {
				fmt.Printf(" %s=%.1f", k, ms(use[k]))
				tot += use[k]
			}
			fmt.Printf("  (total %.1fms of %.0f)\n", ms(tot), 2*ms(bk))
		}
	}
	if len(samp) > 0 {
		fmt.Println("CPU samples per 50ms (all / compact / gc):")
		for i, m := range samp {
			fmt.Printf("  %6.2fs %3d %3d %3d %s\n", float64(i)*0.05, m["all"], m["compact"], m["gc"], strings.Repeat("#", m["compact"]))
		}
	}
	fmt.Println("gaps > 3ms with no trace event:")
	for _, l := range gaps {
		fmt.Printf("  at %8.3fs %7.2fms next: %s\n", l.at.Seconds(), ms(l.d), l.where)
	}
	fmt.Println("run slices > 2ms:")
	for _, l := range longRuns {
		fmt.Printf("  at %8.3fs g%-6d %-14s %7.2fms %s\n", l.at.Seconds(), l.g, role[l.g], ms(l.d), l.where)
	}
	late := map[int]int{}
	nLate := 0
	for _, l := range lats {
		if rl := role[l.g]; (rl == "client-reader" || rl == "client-writer") && l.d > 2*time.Millisecond {
			late[int(l.at/(100*time.Millisecond))]++
			nLate++
		}
	}
	fmt.Printf("client-port sched delays > 2ms: %d, by 100ms:", nLate)
	for _, k := range slices.Sorted(func(y func(int) bool) {
		for k := range late {
			if !y(k) {
				return
			}
		}
	}) {
		fmt.Printf(" %.1fs:%d", float64(k)/10, late[k])
	}
	fmt.Println()
	// The worst client-port delays, with whether a GC phase overlapped.
	sort.Slice(lats, func(i, j int) bool { return lats[i].d > lats[j].d })
	fmt.Println("worst client-port sched delays:")
	n := 0
	for _, l := range lats {
		if rl := role[l.g]; rl != "client-writer" && rl != "client-reader" {
			continue
		}
		gc := ""
		for _, s := range gcSpans {
			if l.at < s[1] && l.at+l.d > s[0] {
				gc = " (GC overlapping)"
			}
		}
		fmt.Printf("  at %8.3fs %-14s %7.2fms%s\n", l.at.Seconds(), role[l.g], ms(l.d), gc)
		if n++; n == 15 {
			break
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64 { return float64(d) / 1e3 }
