package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/store"
)

// crashChildEnv makes the test binary a crash child: "<fsync>:<dir>".
const crashChildEnv = "HERD_STORAGE_CRASH_CHILD"

// crashChild appends records from several goroutines, as connections do,
// and prints "ack <AT line>" for each once Wait returned, which is when a
// node would reply. It runs until killed.
func crashChild() {
	mode, dir, _ := strings.Cut(os.Getenv(crashChildEnv), ":")
	fsync, err := ParseFsync(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	st := store.New()
	cfg := DefaultConfig()
	cfg.Dir, cfg.Store, cfg.Fsync = dir, st, fsync
	s, err := New(cfg)
	if err == nil {
		err = s.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // guards stdout
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	for w := range 8 {
		go func() {
			var acked []string
			for i := 0; ; i++ {
				line := fmt.Sprintf("AT n1 +0.000000001 w%d-c%d +34.068930-118.445127 %d.5", w, i, i)
				r, err := record.Parse([]byte(line))
				if err != nil {
					panic(err)
				}
				st.Put(r)
				if err := s.Append(r).Wait(context.Background()); err != nil {
					fmt.Fprintln(os.Stderr, "not persisted:", err)
					os.Exit(3)
				}
				acked = append(acked, line)
				if len(acked) == 16 {
					// Acknowledge in small batches, as a connection flushes.
					mu.Lock()
					for _, l := range acked {
						out.WriteString("ack " + l + "\n")
					}
					out.Flush()
					mu.Unlock()
					acked = acked[:0]
					time.Sleep(2 * time.Millisecond) // a paced load

				}
			}
		}()
	}
	select {}
}

// SIGKILL a process appending under load, then start on its directory:
// with always every acknowledged record is there; with everysec every
// record acknowledged at least a second before the kill.
func TestStorage_Crash(t *testing.T) {
	for _, tc := range []struct {
		mode  Fsync
		run   time.Duration
		grace time.Duration
	}{
		{FsyncAlways, 1500 * time.Millisecond, 0},
		{FsyncEverySec, 2500 * time.Millisecond, time.Second},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+tc.mode.String()+":"+dir)
			cmd.Stderr = testWriter{t}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			type ack struct {
				line string
				at   time.Time
			}
			acks := make(chan ack, 1<<16)
			var all []ack
			read := make(chan struct{})
			go func() {
				defer close(read)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if l, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
						acks <- ack{l, time.Now()}
					}
				}
			}()
			deadline := time.After(tc.run)
		collect:
			for {
				select {
				case a := <-acks:
					all = append(all, a)
				case <-deadline:
					break collect
				}
			}
			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
		drain: // acknowledgements written before the kill, read after
			for {
				select {
				case a := <-acks:
					all = append(all, a)
				case <-read:
					for len(acks) > 0 {
						all = append(all, <-acks)
					}
					break drain
				}
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die by SIGKILL: %v", err)
			}
			if len(all) < 100 {
				t.Fatalf("only %d acknowledgements before the kill", len(all))
			}

			got, rp := reload(t, dir)
			checked, missing := 0, 0
			for _, a := range all {
				if tc.grace > 0 && a.at.After(killed.Add(-tc.grace)) {
					continue
				}
				checked++
				r, _ := record.Parse([]byte(a.line))
				if got[r.Client()] != a.line {
					if missing++; missing <= 5 {
						t.Errorf("acknowledged %q missing after the crash", a.line)
					}
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged records missing", missing, checked)
			}
			if checked == 0 {
				t.Fatal("no acknowledgement old enough to check")
			}
			t.Logf("%s: %d acknowledged, %d checked, %d replayed (torn tails cut: %d)",
				tc.mode, len(all), checked, rp.Records, rp.TornTails)
		})
	}
}
