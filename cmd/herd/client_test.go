package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// herd client resolves node names through the herd file given by --config
// or, without it, by HERD_CONFIG; the flag wins.
func TestRun_ClientHerdConfig(t *testing.T) {
	addr := echoServer(t)
	file := func(name, client string) string {
		p := filepath.Join(t.TempDir(), "herd.yaml")
		data := fmt.Sprintf("nodes: [{name: %s, client: %q, nats: \"127.0.0.1:0\", cluster: \"127.0.0.1:0\"}]\n", name, client)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	echo := file("Echo", addr)
	t.Setenv("HERD_CONFIG", echo)
	if code, out, errOut := runCLI(t, "", "client", "Echo", "HELLO"); code != 0 || out != "? HELLO\n" {
		t.Errorf("HERD_CONFIG: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "", "client", "--config", file("Other", "127.0.0.1:1"), "Echo", "HELLO"); code != 1 {
		t.Errorf("--config did not win over HERD_CONFIG: exit %d", code)
	}
	os.Unsetenv("HERD_CONFIG") // t.Setenv restores it
	if code, _, _ := runCLI(t, "", "client", "Echo", "HELLO"); code != 1 {
		t.Errorf("without HERD_CONFIG, Echo resolved: exit %d", code)
	}
}

// echoServer answers each line with "? line", like a node refusing it,
// and closes after EOF; it returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "? %s\n", sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().String()
}
