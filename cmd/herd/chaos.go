package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/herdhq/herd/cmd/internal/herdrun"
	"github.com/herdhq/herd/deploy/herdfile"
)

// runChaos is `herd up --chaos`: the herd behind route proxies, with the
// chaos admin endpoint on c.ChaosAdmin.
func (c *upCmd) runChaos(ctx context.Context, e env, hf herdfile.Config, log *slog.Logger, ps *herdrun.Providers, started time.Time) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.ChaosAdmin)
	if err != nil {
		return fmt.Errorf("chaos admin: %w", err)
	}
	defer ln.Close()
	h, err := herdrun.StartChaos(ctx, hf, ps, log)
	if err != nil {
		return salvageHint(err)
	}
	defer h.Close()
	fctx, cancel := context.WithTimeout(ctx, c.FormTimeout)
	for _, n := range h.Running() {
		if err = n.WaitClusterFormed(fctx, len(herdrun.Peers(hf, n.Name()))); err != nil { // its region's nodes
			break
		}
	}
	cancel()
	if err != nil {
		return fmt.Errorf("wait for the cluster to form: %w", err)
	}
	srv := &http.Server{Handler: h.AdminHandler(ctx), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintf(e.stdout, "herd %q is up with chaos: %d nodes, cluster formed in %s\n\n", hf.Herd, len(hf.Nodes), time.Since(started).Round(time.Millisecond))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCLIENT\tNATS\tROUTE PROXY\tNEIGHBORS")
	for _, n := range h.Running() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name(), n.ClientAddr(), n.NATS().ClientURL(), h.ProxyAddr(n.Name()), strings.Join(hf.Neighbors(n.Name()), ", "))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nchaos admin on http://%s — try: herd chaos cut Goloman Hands   (Ctrl-C stops the herd)\n", ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("chaos admin: %w", err)
	}
	fmt.Fprintln(e.stdout, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return h.Close()
}

// adminFlag is the address of a running `herd up --chaos`.
type adminFlag struct {
	Admin string `default:"127.0.0.1:12099" env:"HERD_CHAOS_ADMIN" help:"Chaos admin address of the running 'herd up --chaos'."`
}

type chaosCmd struct {
	Cut       chaosLinkCmd      `cmd:"" help:"Cut the route between two nodes (both stay up)."`
	Heal      chaosLinkCmd      `cmd:"" help:"Heal the route between two nodes."`
	Partition chaosPartitionCmd `cmd:"" help:"Cut every route between groups: herd chaos partition Goloman,Hands,Wilkes Holiday,Welsh"`
	HealAll   chaosNoArgCmd     `cmd:"" name:"heal-all" help:"Heal every cut route."`
	Stop      chaosNodeCmd      `cmd:"" help:"Stop a node (its records in memory are lost)."`
	Start     chaosNodeCmd      `cmd:"" help:"Start a stopped node again."`
	Status    chaosNoArgCmd     `cmd:"" help:"Show running and stopped nodes and cut routes."`
}

type chaosLinkCmd struct {
	adminFlag
	A string `arg:"" help:"One node."`
	B string `arg:"" help:"The other node."`
}

func (c *chaosLinkCmd) Run(ctx context.Context, e env, kctx *kong.Context) error {
	return chaosCall(ctx, e, c.Admin, http.MethodPost, "/"+subcommand(kctx), url.Values{"a": {c.A}, "b": {c.B}})
}

type chaosPartitionCmd struct {
	adminFlag
	Groups []string `arg:"" help:"Two or more comma-separated groups of nodes."`
}

func (c *chaosPartitionCmd) Run(ctx context.Context, e env) error {
	return chaosCall(ctx, e, c.Admin, http.MethodPost, "/partition", url.Values{"group": c.Groups})
}

type chaosNodeCmd struct {
	adminFlag
	Node string `arg:"" help:"The node."`
}

func (c *chaosNodeCmd) Run(ctx context.Context, e env, kctx *kong.Context) error {
	return chaosCall(ctx, e, c.Admin, http.MethodPost, "/"+subcommand(kctx), url.Values{"node": {c.Node}})
}

type chaosNoArgCmd struct{ adminFlag }

func (c *chaosNoArgCmd) Run(ctx context.Context, e env, kctx *kong.Context) error {
	if subcommand(kctx) == "status" {
		return chaosCall(ctx, e, c.Admin, http.MethodGet, "/status", nil)
	}
	return chaosCall(ctx, e, c.Admin, http.MethodPost, "/heal-all", nil)
}

// subcommand is the word after "chaos" on the command line: cut, heal, ...
func subcommand(kctx *kong.Context) string {
	f := strings.Fields(kctx.Command())
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// chaosCall sends one command to the admin endpoint and prints its reply.
func chaosCall(ctx context.Context, e env, admin, method, path string, form url.Values) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+admin+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is 'herd up --chaos' running? %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(out)))
	}
	_, err = e.stdout.Write(out)
	return err
}
