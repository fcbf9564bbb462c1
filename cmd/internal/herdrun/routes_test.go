package herdrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/nodetest/wait"
)

// openHerd is a herd file of two neighbors whose node Solo listens for
// routes on every interface; Peer never runs (its route port is closed).
// extra is added under auth.routes.
func openHerd(t *testing.T, extra string) herdfile.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hf, err := herdfile.Parse(fmt.Appendf(nil, `
auth:
  routes: {%s}
nodes:
  - {name: Solo, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: "0.0.0.0:0", neighbors: [Peer]}
  - {name: Peer, client: "127.0.0.1:0", nats: "127.0.0.1:0", cluster: %q, neighbors: [Solo]}
`, extra, closed))
	if err != nil {
		t.Fatal(err)
	}
	return hf
}

// startOpen starts Solo of hf with the route password pw (none if empty).
func startOpen(t *testing.T, hf herdfile.Config, pw string) (*Herd, error) {
	t.Helper()
	ps, err := NewProviders(hf, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	sec, err := LoadSecurity(hf, func(string) string { return pw })
	if err != nil {
		t.Fatal(err)
	}
	h, err := Start(context.Background(), hf, []string{"Solo"}, ps, Logger(hf.Log, io.Discard), WithSecurity(sec))
	if h != nil {
		t.Cleanup(func() { h.Close() })
	}
	return h, err
}

// A node whose cluster address is not loopback does not start with open
// routes, and the refusal names the herd file setting that would allow it.
func TestStart_openRoutesRefused(t *testing.T) {
	h, err := startOpen(t, openHerd(t, ""), "")
	if err == nil {
		t.Fatalf("Solo started with open routes on %s", h.Nodes[0].NATS().ClusterAddr())
	}
	var fe *herdfile.FieldError
	if !errors.Is(err, embeddednats.ErrOpenRoutes) || !errors.As(err, &fe) || fe.Field != "auth.routes.insecure" {
		t.Fatalf("Start = %v, want ErrOpenRoutes naming auth.routes.insecure", err)
	}
	for _, want := range []string{"node Solo", "0.0.0.0:0", "auth.routes.user", "auth.routes.insecure: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// The route injection of issue 19: a server that is not part of the herd
// opens a route and sends a flood message claiming to come from Solo's
// neighbor. Only a herd file that asks for open routes lets it in; with
// route authentication it is refused and nothing is stored.
func TestStart_routeInjection(t *testing.T) {
	for _, tt := range []struct {
		name, routes, pw string
		stored           bool
	}{
		{"insecure asked for", "insecure: true", "", true},
		{"authenticated", "user: herd", "route-pw-3", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := startOpen(t, openHerd(t, tt.routes), tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			n := h.Nodes[0]
			_, port, _ := net.SplitHostPort(n.NATS().ClusterAddr())
			answer := injectRoute(t, "127.0.0.1:"+port, "Solo", "AT Peer +0.100000000 forged +1+1 1621464827")
			if tt.stored {
				wait.For(t, "the forged record", func() bool { _, ok := n.Store().Get("forged"); return ok })
				return
			}
			if answer != "-ERR 'Authorization Violation'" {
				t.Errorf("route without credentials answered %q, want an authorization violation", answer)
			}
			// A record Solo does take, sent after, arrives first.
			c := dial(t, n.ClientAddr())
			defer c.Close()
			fmt.Fprintf(c, "IAMAT marker +1+1 1621464827\n")
			if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "AT Solo ") {
				t.Fatalf("IAMAT: %q %v", line, err)
			}
			if r, ok := n.Store().Get("forged"); ok {
				t.Errorf("Solo stored the forged record %q", r.Line)
			}
		})
	}
}

// injectRoute opens a route to addr without credentials, as a rogue NATS
// server would, claiming to be to's neighbor Peer (herd nodes let in only
// routes that name a node of the herd file; with open routes nothing can
// prove the name), and sends line on to's flood subject with headers
// naming Peer as origin and sender. It returns the first answer
// after the handshake that is not interest (RS+): PONG when the route was
// accepted, or the server's error.
func injectRoute(t *testing.T, addr, to, line string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("route port said %q %v, want INFO", l, err)
	}
	hdr := "NATS/1.0\r\nHerd-Origin: Peer\r\nHerd-Sender: Peer\r\n\r\n"
	fmt.Fprintf(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"Peer@\",\"name\":\"rogue\",\"cluster\":\"herd\",\"headers\":true}\r\n"+
		"INFO {\"server_id\":\"NROGUE\",\"name\":\"rogue\",\"cluster\":\"herd\",\"headers\":true}\r\nPING\r\n"+
		"HMSG HERD herd.at.%s %d %d\r\n%s%s\r\n", to, len(hdr), len(hdr)+len(line), hdr, line)
	for {
		l, err := br.ReadString('\n')
		l = strings.TrimRight(l, "\r\n")
		switch {
		case err != nil:
			t.Fatalf("route: %v", err)
		case strings.HasPrefix(l, "RS+ ") || strings.HasPrefix(l, "INFO ") || l == "PING":
			continue
		}
		return l
	}
}
