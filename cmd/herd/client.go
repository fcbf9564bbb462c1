package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

type clientCmd struct {
	Addr   string        `arg:"" help:"Node to talk to: host:port, or a node name of the herd file (e.g. Goloman)."`
	Lines  []string      `arg:"" optional:"" help:"Lines to send; without them, lines are read from standard input."`
	Config string        `short:"c" type:"existingfile" env:"HERD_CONFIG" help:"Herd file for node names (or set HERD_CONFIG). Default: the built-in herd on 127.0.0.1."`
	Wait   time.Duration `default:"30s" help:"How long to wait for replies after the last line."`
}

func (c *clientCmd) Run(ctx context.Context, e env) error {
	addr, err := c.resolve()
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	in := e.stdin
	if len(c.Lines) > 0 {
		in = strings.NewReader(strings.Join(c.Lines, "\n") + "\n")
	}
	// Send everything, then half-close: the node answers every line
	// (including a last one without LF) and closes when done.
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, in)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		sent <- err
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		if err := <-sent; err == nil {
			conn.SetReadDeadline(time.Now().Add(c.Wait))
		}
	}()
	if _, err := io.Copy(e.stdout, conn); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read replies: %w", err)
	}
	return nil
}

// resolve turns a node name into its client address.
func (c *clientCmd) resolve() (string, error) {
	if strings.Contains(c.Addr, ":") {
		return c.Addr, nil
	}
	hf, err := loadHerdFile(c.Config)
	if err != nil {
		return "", err
	}
	n, ok := hf.Node(c.Addr)
	if !ok {
		return "", fmt.Errorf("%q is neither host:port nor a node of the herd file (%s)", c.Addr, strings.Join(hf.Names(), ", "))
	}
	return n.Client, nil
}
