package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// VerifyResult says whether every checked client's newest accepted record
// is the one every node holds.
type VerifyResult struct {
	Mode VerifyMode `json:"mode"`
	// Clients is the number of clients checked on each node.
	Clients int `json:"clients"`
	Nodes   int `json:"nodes"`
	// Checks is Clients × Nodes; Failed of them still did not hold the
	// record Settle after the load ended (and on a check after the first
	// pass).
	Checks  int            `json:"checks"`
	Failed  int            `json:"failed"`
	Missing map[string]int `json:"missing_by_node,omitempty"`
	// Retried counts checks that failed at first and passed on a later
	// round (records still in flight when the load ended, or lost by the
	// flood and repaired by anti-entropy); LastPassed is when the last of
	// them passed, in seconds after the load ended.
	Retried    int     `json:"retried"`
	LastPassed float64 `json:"last_passed_s,omitempty"`
	Seconds    float64 `json:"seconds"`
	OK         bool    `json:"ok"`
	// Example describes the first failure.
	Example string `json:"example,omitempty"`
}

// verifyConns is the number of connections per node used to verify.
const verifyConns = 4

// verify asks every node, by WHATSAT, for each checked client's record and
// compares its client time with the newest one the node accepted.
func (r *runner) verify(ctx context.Context) VerifyResult {
	start := time.Now()
	var idx []int
	for i, t := range r.accepted {
		if t != 0 {
			idx = append(idx, i)
		}
	}
	if r.cfg.Verify == VerifySample && len(idx) > r.cfg.VerifySample {
		rand.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:r.cfg.VerifySample]
	}
	v := VerifyResult{Mode: r.cfg.Verify, Clients: len(idx), Nodes: len(r.cfg.Addrs), Missing: map[string]int{}}
	var mu sync.Mutex // guards v's counters below
	var wg sync.WaitGroup
	// Records still missing are checked again until Settle after the
	// load ended (verify starts when it ends), and at least once after
	// the first pass, which alone can take longer than Settle: a record
	// that arrives, or is repaired, within Settle of the end passes.
	deadline := start.Add(r.cfg.Settle)
	for _, addr := range r.cfg.Addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			todo := idx
			var example string
			for round := 0; ; round++ {
				failed, ex, err := r.checkNode(ctx, addr, todo)
				if err != nil {
					failed, ex = todo, err.Error()
				}
				mu.Lock()
				if round == 0 {
					v.Retried += len(failed)
				} else if len(failed) < len(todo) {
					v.LastPassed = max(v.LastPassed, time.Since(start).Seconds())
				}
				mu.Unlock()
				if ex != "" {
					example = ex
				}
				todo = failed
				if len(todo) == 0 || (round > 0 && !time.Now().Before(deadline)) || !sleepCtx(ctx, 100*time.Millisecond) {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			v.Retried -= len(todo)
			if len(todo) > 0 {
				v.Missing[addr] = len(todo)
				v.Failed += len(todo)
				if v.Example == "" {
					v.Example = addr + ": " + example
				}
			}
		}()
	}
	wg.Wait()
	v.Checks = v.Clients * v.Nodes
	v.OK = v.Failed == 0 && ctx.Err() == nil
	v.Seconds = time.Since(start).Seconds()
	if len(v.Missing) == 0 {
		v.Missing = nil
	}
	return v
}

// checkNode checks clients idx on addr over verifyConns connections and
// returns those whose record there is missing or older than accepted,
// with a description of one of them.
func (r *runner) checkNode(ctx context.Context, addr string, idx []int) (failed []int, example string, err error) {
	var (
		mu   sync.Mutex // guards failed, example, err
		wg   sync.WaitGroup
		part = (len(idx) + verifyConns - 1) / verifyConns
	)
	for lo := 0; lo < len(idx); lo += part {
		chunk := idx[lo:min(lo+part, len(idx))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, ex, cerr := r.checkConn(ctx, addr, chunk)
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, f...)
			if ex != "" {
				example = ex
			}
			if cerr != nil {
				err = cerr
			}
		}()
	}
	wg.Wait()
	return failed, example, err
}

// checkConn pipelines one WHATSAT per client on one connection: a writer
// sends them all while this goroutine reads the replies in order.
func (r *runner) checkConn(ctx context.Context, addr string, idx []int) (failed []int, example string, err error) {
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return idx, "", fmt.Errorf("verify: dial: %w", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	go func() {
		bw := bufio.NewWriterSize(nc, 32<<10)
		var line []byte
		for _, i := range idx {
			line = append(line[:0], "WHATSAT "...)
			line = r.clientName(line, i)
			line = append(line, " 0.01 1\n"...)
			if _, err := bw.Write(line); err != nil {
				return // the reader fails on the closed connection
			}
		}
		bw.Flush()
	}()
	br := bufio.NewReaderSize(nc, 64<<10)
	var scratch, want []byte
	for n, i := range idx {
		if n%256 == 0 {
			nc.SetReadDeadline(time.Now().Add(r.cfg.ReplyTimeout))
		}
		ok, first, err := readReply(br, true, scratch)
		if err != nil {
			return append(failed, idx[n:]...), "", fmt.Errorf("verify: read reply: %w", err)
		}
		want = appendTime(want[:0], r.accepted[i])
		if ok {
			scratch = first[:0]
		}
		if !ok || !bytes.Equal(lastField(first), want) {
			failed = append(failed, i)
			if example == "" {
				example = fmt.Sprintf("client %s: want time %s, got %q", r.clientName(nil, i), want, first)
			}
		}
	}
	return failed, example, nil
}
