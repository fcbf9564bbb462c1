package node_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/storage"
)

// BenchmarkNode_IAMAT measures pipelined IAMAT throughput of one node over
// 4 TCP connections (every command a new record: stored and handed to the
// flood), bare and with the observability that a production node runs:
// metrics, an info-level log, (for comparison) a debug-level log file, and
// records on disk (fsync everysec and always).
//
//	go test -run '^$' -bench Node_IAMAT -benchtime 400000x -count 5 ./node
func BenchmarkNode_IAMAT(b *testing.B) {
	variants := []struct {
		name string
		mod  func(b *testing.B, c *node.Config)
	}{
		{"bare", func(*testing.B, *node.Config) {}},
		{"metrics", func(_ *testing.B, c *node.Config) { c.MonitorAddr = "127.0.0.1:0" }},
		{"metrics+infolog", func(_ *testing.B, c *node.Config) {
			c.MonitorAddr = "127.0.0.1:0"
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}},
		{"metrics+debuglogfile", func(b *testing.B, c *node.Config) {
			c.MonitorAddr = "127.0.0.1:0"
			c.LogFile = filepath.Join(b.TempDir(), "node.log")
		}},
		// Durability: every record appended to the log, snapshots as the
		// log outgrows the last one.
		{"metrics+storage-everysec", func(b *testing.B, c *node.Config) {
			c.MonitorAddr, c.Storage.Dir = "127.0.0.1:0", b.TempDir()
		}},
		// The default before BENCHMARKS.md's "Durability" moved it to 64 MiB:
		// a snapshot of the whole store for every 8 MiB of log.
		{"metrics+storage-everysec-snapmin8MiB", func(b *testing.B, c *node.Config) {
			c.MonitorAddr, c.Storage.Dir, c.Storage.SnapshotMinBytes = "127.0.0.1:0", b.TempDir(), 8<<20
		}},
		{"metrics+storage-always", func(b *testing.B, c *node.Config) {
			c.MonitorAddr, c.Storage.Dir, c.Storage.Fsync = "127.0.0.1:0", b.TempDir(), storage.FsyncAlways
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			cfg := node.DefaultConfig()
			cfg.Name, cfg.Places = "A", nodetest.ZeroPlaces{}
			v.mod(b, &cfg)
			n, err := node.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			benchIAMAT(b, n.ClientAddr(), 4)
		})
	}
}

func benchIAMAT(b *testing.B, addr string, conns int) {
	per := b.N/conns + 1
	payloads := make([][]byte, conns)
	cs := make([]net.Conn, conns)
	for i := range conns {
		var buf []byte
		for j := range per {
			buf = fmt.Appendf(buf, "IAMAT c%d-%d +34.068930-118.445127 1621464827.%09d\n", i, j, j)
		}
		payloads[i] = buf
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := c.Write(payloads[i]); err != nil {
				b.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(c, 64<<10)
			for range per {
				if _, err := br.ReadSlice('\n'); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*conns)/b.Elapsed().Seconds(), "cmds/s")
	// CPU time of the whole process (node and client) per command: less
	// disturbed than throughput by other load on the machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(per*conns), "cpu-ns/cmd")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
