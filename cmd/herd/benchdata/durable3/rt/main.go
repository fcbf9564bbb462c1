// rt starts `BIN up -c FILE --data DIR`, reports when each client port
// first accepts and when the herd prints "is up", the nodes' "storage
// loaded" lines, then stops the herd with SIGKILL (kill) or SIGTERM (term).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin, file, dir, stop := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	addrs := os.Args[5:]
	cmd := exec.Command(bin, "up", "-c", file, "--data", dir)
	node := os.Getenv("RT_NODE")
	if node != "" {
		cmd = exec.Command(bin, "node", "-c", file, "-n", node, "--data", dir)
	}
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var loaded []string
	upc := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "is up") {
				upc <- time.Since(t0)
			}
		}
	}()
	re := regexp.MustCompile(`node=(\S+).*records=(\d+) from_snapshot=(\d+) from_log=(\d+).*took=(\S+)`)
	go func() {
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, "storage loaded") {
				if m := re.FindStringSubmatch(l); m != nil {
					mu.Lock()
					loaded = append(loaded, fmt.Sprintf("%s %s(%s+%s) %s", m[1], m[2], m[3], m[4], m[5]))
					mu.Unlock()
				} else {
					mu.Lock()
					loaded = append(loaded, l)
					mu.Unlock()
				}
			} else if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				fmt.Fprintln(os.Stderr, "LOG:", l)
			}
		}
	}()
	listen := make([]time.Duration, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(t0) < 120*time.Second {
				c, err := net.DialTimeout("tcp", a, time.Second)
				if err == nil {
					listen[i] = time.Since(t0)
					c.Close()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	var up time.Duration
	if node == "" {
		select {
		case up = <-upc:
		case <-time.After(120 * time.Second):
		}
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	fmt.Printf("listen:")
	for i := range addrs {
		fmt.Printf(" %.2f", listen[i].Seconds())
	}
	fmt.Printf(" | is-up %.2f s | loaded: %s\n", up.Seconds(), strings.Join(loaded, "; "))
	mu.Unlock()
	if stop == "kill" {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		return
	}
	t1 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	fmt.Printf("stopped in %.2f s\n", time.Since(t1).Seconds())
}
