package chaos_test

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/nodetest"
)

// ack is an IAMAT reply: the record its origin stored (if newer) and when.
type ack struct {
	line string
	at   time.Time
}

// load sends IAMATs to random live nodes until stop, each newer than the
// last, for a pool of clients, and collects the replies.
func load(h *nodetest.Herd, rng *rand.Rand, stop <-chan struct{}, acks *[]ack, mu *sync.Mutex, sent *atomic.Int64) {
	var seq int64
	clients := 300
	for {
		select {
		case <-stop:
			return
		default:
		}
		live := h.Live()
		if len(live) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		name := live[rng.IntN(len(live))]
		n := h.Node(name)
		if n == nil {
			continue
		}
		c, err := net.DialTimeout("tcp", n.ClientAddr(), time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var b strings.Builder
		const batch = 10
		for range batch {
			seq++
			fmt.Fprintf(&b, "IAMAT load-%d +1+1 1700000000.%09d\n", rng.IntN(clients), seq)
		}
		c.Write([]byte(b.String()))
		br := bufio.NewReader(c)
		for range batch {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			sent.Add(1)
			mu.Lock()
			*acks = append(*acks, ack{strings.TrimSuffix(line, "\n"), time.Now()})
			mu.Unlock()
		}
		c.Close()
		time.Sleep(2 * time.Millisecond)
	}
}

// Random cuts, heals, partitions, node kills and restarts under a steady
// IAMAT load. At the end, with everything healed and restarted, every node
// holds the same records, and none older than a record acknowledged by an
// origin that was not killed afterwards (a record only its killed origin
// held is legitimately lost: stores live in memory). HERD_CHAOS_LONG=1 runs
// it for 10 minutes instead of a few seconds.
func TestNet_RandomChaos(t *testing.T) {
	run := 6 * time.Second
	if os.Getenv("HERD_CHAOS_LONG") != "" {
		run = 10 * time.Minute
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, running %s", seed, run)
	rng := rand.New(rand.NewPCG(seed, 1))
	h := startHerd(t, defaultTopology, nil)

	var edges [][2]string
	for a, nbrs := range defaultTopology {
		for _, b := range nbrs {
			if a < b {
				edges = append(edges, [2]string{a, b})
			}
		}
	}
	slices.SortFunc(edges, func(x, y [2]string) int { return strings.Compare(x[0]+x[1], y[0]+y[1]) })
	all := slices.Sorted(maps.Keys(defaultTopology))

	var (
		mu    sync.Mutex // guards acks
		acks  []ack
		sent  atomic.Int64
		stop  = make(chan struct{})
		loadW sync.WaitGroup
	)
	loadW.Go(func() { load(h, rand.New(rand.NewPCG(seed, 2)), stop, &acks, &mu, &sent) })

	killed := map[string][]time.Time{}
	counts := map[string]int{}
	end := time.Now().Add(run)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		live := h.Live()
		var stopped []string
		for _, n := range all {
			if !slices.Contains(live, n) {
				stopped = append(stopped, n)
			}
		}
		switch rng.IntN(6) {
		case 0:
			e := edges[rng.IntN(len(edges))]
			h.Net.Cut(e[0], e[1])
			counts["cut"]++
		case 1:
			if cuts := h.Net.Cuts(); len(cuts) > 0 {
				e := cuts[rng.IntN(len(cuts))]
				h.Net.Heal(e[0], e[1])
				counts["heal"]++
			}
		case 2:
			if len(live) > 2 {
				n := live[rng.IntN(len(live))]
				h.Stop(n)
				killed[n] = append(killed[n], time.Now())
				counts["kill"]++
			}
		case 3:
			if len(stopped) > 0 {
				h.StartNode(stopped[rng.IntN(len(stopped))])
				counts["restart"]++
			}
		case 4:
			perm := rng.Perm(len(all))
			k := 1 + rng.IntN(len(all)-1)
			var a, b []string
			for i, p := range perm {
				if i < k {
					a = append(a, all[p])
				} else {
					b = append(b, all[p])
				}
			}
			h.Net.Partition(a, b)
			counts["partition"]++
		case 5:
			h.Net.HealAll()
			counts["heal-all"]++
		}
	}
	close(stop)
	loadW.Wait()
	h.Net.HealAll()
	for _, n := range all {
		if h.Node(n) == nil {
			h.StartNode(n)
		}
	}
	t.Logf("chaos: %v; %d IAMATs answered", counts, sent.Load())
	h.WaitRoutes(30 * time.Second)

	// The records that must survive, newest per client.
	want := map[string]record.Record{}
	for _, a := range acks {
		r, err := record.Parse([]byte(a.line))
		if err != nil {
			t.Fatalf("reply %q: %v", a.line, err)
		}
		lost := slices.ContainsFunc(killed[r.Origin()], func(k time.Time) bool { return k.After(a.at) })
		if !lost && record.Newer(r, want[r.Client()]) {
			want[r.Client()] = r
		}
	}
	start := time.Now()
	for {
		ref := nodetest.Lines(h.Node(all[0]))
		same := true
		for _, n := range all[1:] {
			if !maps.Equal(nodetest.Lines(h.Node(n)), ref) {
				same = false
				break
			}
		}
		behind := 0
		for c, w := range want {
			got, _ := record.Parse([]byte(ref[c]))
			if ref[c] == "" || record.Newer(w, got) {
				behind++
			}
		}
		if same && behind == 0 {
			t.Logf("all five converged on %d clients %s after the last heal", len(ref), time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("not converged 30s after the last heal: stores identical=%v, %d clients behind a surviving acknowledged record", same, behind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
