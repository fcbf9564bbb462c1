package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/herdhq/herd/node/nodetest/logbuf"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/places"
)

// holdIdle opens n idle connections to addr from a child process (this test
// binary running TestHelperIdleConns) and keeps them open until the test
// ends.
func holdIdle(t *testing.T, addr string, n int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleConns$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("HERD_IDLE_HELPER=%s,%d", addr, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper closes its connections and exits
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("idle helper: %q, %v", line, err)
	}
}

// TestHelperIdleConns is not a test: it is the child process of holdIdle.
func TestHelperIdleConns(t *testing.T) {
	spec := os.Getenv("HERD_IDLE_HELPER")
	if spec == "" {
		t.Skip("helper process for TestServer_Hostile")
	}
	addr, ns, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(ns)
	raiseNoFile(t, uint64(n)+1000)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var g errgroup.Group
	g.SetLimit(64)
	for i := range conns {
		g.Go(func() error {
			c, err := net.Dial("tcp", addr)
			conns[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("open idle connections: %v", err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent is done
}

// raiseNoFile raises this process's open-file limit to at least n, or
// skips the test saying why it cannot.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("skipped: cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(lim.Max, n)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		t.Skipf("skipped: need %d open files, limit is %d/%d and cannot be raised: %v", n, lim.Cur, lim.Max, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// memNow is the Go heap and stacks in use, and the process's RSS, after a
// collection.
func memNow(t *testing.T) (heap, stack, rss uint64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapInuse, ms.StackInuse, rss
}

// latencies sends n IAMATs one after another on one connection and returns
// the sorted round-trip times; every reply must be the right AT line.
func latencies(t *testing.T, ts *testServer, n int) []time.Duration {
	t.Helper()
	c := ts.dial(t)
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	var ds []time.Duration
	for i := range n {
		start := time.Now()
		fmt.Fprintf(c, "IAMAT normal%d +1+1 1621464828\n", i)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("normal client: %v", err)
		}
		ds = append(ds, time.Since(start))
		if want := fmt.Sprintf("AT Goloman +0.223372037 normal%d +1+1 1621464828\n", i); line != want {
			t.Fatalf("normal client got %q, want %q", line, want)
		}
	}
	slices.Sort(ds)
	return ds
}

func pct(ds []time.Duration, p int) time.Duration { return ds[len(ds)*p/100] }

// 10,000 idle connections, a 1 MB line, random bytes and connections that
// stop mid-line, all at once: a normal client is still answered correctly
// and memory stays bounded. The figures (memory per idle connection,
// normal latency before and during the attack) are logged.
func TestServer_Hostile(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: opens 10,000 connections")
	}
	const idle = 10000
	// The idle connections' client ends live in a child process, so that
	// this one holds only the server's ends (and the figures are the
	// server's alone).
	raiseNoFile(t, idle+1000)
	logs := &logbuf.Buffer{}
	ts := startServer(t, func(c *Config, _ *places.Provider) {
		c.MaxConns = idle + 100
		c.Logger = logs.Logger(slog.LevelInfo)
	})
	before := latencies(t, ts, 200)
	heap0, stack0, rss0 := memNow(t)

	holdIdle(t, ts.Addr().String(), idle)
	wait.For(t, "idle connections accepted", func() bool { return ts.NumConns() == idle })
	heap1, stack1, rss1 := memNow(t)
	t.Logf("%d idle connections: heap %.1f KiB, stacks %.1f KiB, RSS %.1f KiB per connection",
		idle, perConn(heap1, heap0, idle), perConn(stack1, stack0, idle), perConn(rss1, rss0, idle))
	if per := perConn(heap1+stack1, heap0+stack0, idle); per > 32 {
		t.Errorf("idle connections cost %.1f KiB each, want at most 32", per)
	}

	// The attack, while the idle connections stay open.
	var attack sync.WaitGroup
	stop := make(chan struct{})
	attack.Go(func() { // a 1 MB line, over and over
		long := bytes.Repeat([]byte("x"), 1<<20)
		for {
			c, err := net.Dial("tcp", ts.Addr().String())
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
			c.Write(long)
			c.Write([]byte("\n"))
			c.Close()
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	attack.Go(func() { // random bytes
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 64<<10)
		for {
			c, err := net.Dial("tcp", ts.Addr().String())
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			c.Write(buf)
			c.Close()
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	var halfOpen []net.Conn // a partial line, then silence: a vanished peer looks the same
	for range 50 {
		c, err := net.Dial("tcp", ts.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		halfOpen = append(halfOpen, c)
		c.Write([]byte("IAMAT half-open +1+1 16214648"))
	}
	during := latencies(t, ts, 200)
	heap2, stack2, rss2 := memNow(t)
	close(stop)
	attack.Wait()
	for _, c := range halfOpen {
		c.Close()
	}
	t.Logf("normal client IAMAT round trip: before p50 %s p99 %s; during the attack p50 %s p99 %s",
		pct(before, 50), pct(before, 99), pct(during, 50), pct(during, 99))
	t.Logf("memory during the attack: heap %+.1f MiB, stacks %+.1f MiB, RSS %+.1f MiB over the idle connections",
		mib(heap2, heap1), mib(stack2, stack1), mib(rss2, rss1))
	if grew := mib(heap2, heap1); grew > 64 {
		t.Errorf("heap grew %.1f MiB under the attack", grew)
	}
	if !logs.Contains("line too long") {
		t.Error("the 1 MB lines were not logged")
	}
}

func perConn(after, before uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n) / 1024
}

func mib(after, before uint64) float64 { return (float64(after) - float64(before)) / (1 << 20) }
