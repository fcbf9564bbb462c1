package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herdhq/herd/cmd/internal/herdrun"
	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
)

type upCmd struct {
	Config      string        `short:"c" type:"existingfile" help:"Herd file (YAML). Default: the built-in five-node herd (deploy/herd.yaml)."`
	FormTimeout time.Duration `default:"30s" help:"How long to wait for the NATS cluster to form."`
	Chaos       bool          `help:"Run every node with chaos on (as 'chaos: true' in the herd file): 'herd chaos' cuts, heals, partitions, stops and starts them, as the system user (HERD_SYSTEM_PASSWORD)."`
	dataDir     `embed:""`
	Profile     profileFlags `embed:""`
}

func (c *upCmd) Run(ctx context.Context, e env) error {
	stopProfile, err := c.Profile.start(e)
	defer stopProfile()
	if err != nil {
		return err
	}
	hf, log, ps, sec, err := setup(c.Config, "", c.dataDir, e)
	if err != nil {
		return err
	}
	defer ps.Close()
	defer herdrun.TuneGC(ctx, e.getenv)()
	// Every node runs here, so a random route password keeps other
	// servers out without any setup.
	sec.GenerateRouteAuth()
	started := time.Now()
	hf.Chaos = hf.Chaos || c.Chaos
	h, err := herdrun.Start(ctx, hf, nil, ps, log, herdrun.WithSecurity(sec))
	if err != nil {
		return salvageHint(err)
	}
	defer h.Close()
	fctx, cancel := context.WithTimeout(ctx, c.FormTimeout)
	err = h.WaitFormed(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("wait for the cluster to form: %w", err)
	}
	printHerd(e, hf, h, time.Since(started))
	fmt.Fprintf(e.stdout, "Security: %s\n", sec.Summary())
	if edges := hf.Edges(); hf.Chaos && len(edges) > 0 {
		fmt.Fprintf(e.stdout, "Chaos is on: try herd chaos --server %s cut %s %s (as the system user: HERD_SYSTEM_PASSWORD)\n",
			h.Nodes[0].NATS().ClientURL(), edges[0][0], edges[0][1])
	}
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "shutting down")
	return h.Close()
}

// setup reads what herd up and herd node need before starting nodes: the
// herd file (path, or the built-in herd when empty; as node reads it when
// node is set: see herdfile.Config.ForNode) with --data applied, the
// logger it asks for, the Places providers and the security settings. The
// caller closes the providers.
func setup(path, node string, data dataDir, e env) (herdfile.Config, *slog.Logger, *herdrun.Providers, *herdrun.Security, error) {
	hf, err := loadHerdFile(path)
	if err != nil {
		return hf, nil, nil, nil, err
	}
	if err := data.check(); err != nil {
		return hf, nil, nil, nil, err
	}
	if data.Data != "" {
		hf.Storage.Dir = data.Data
	}
	if node != "" {
		hf = hf.ForNode(node)
	}
	log := herdrun.Logger(hf.Log, e.stderr)
	sec, err := herdrun.LoadSecurity(hf, e.getenv)
	if err != nil {
		return hf, nil, nil, nil, err
	}
	ps, err := herdrun.NewProviders(hf, e.getenv)
	if err != nil {
		return hf, nil, nil, nil, err
	}
	return hf, log, ps, sec, nil
}

// loadHerdFile reads path, or the built-in herd when path is empty.
func loadHerdFile(path string) (herdfile.Config, error) {
	if path == "" {
		hf, err := herdfile.Parse(deploy.DefaultHerdFile())
		if err != nil {
			return hf, fmt.Errorf("parse built-in herd file: %w", err)
		}
		return hf, nil
	}
	return herdfile.Load(path)
}

func printHerd(e env, hf herdfile.Config, h *herdrun.Herd, took time.Duration) {
	regions := hf.Regions()
	if len(regions) > 1 {
		fmt.Fprintf(e.stdout, "herd %q is up: %d nodes in %d regions (%s), clusters and gateways formed in %s\n\n",
			hf.Herd, len(h.Nodes), len(regions), strings.Join(regions, ", "), took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(e.stdout, "herd %q is up: %d nodes, cluster formed in %s\n\n", hf.Herd, len(h.Nodes), took.Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if len(regions) > 1 {
		fmt.Fprintln(tw, "NODE\tCLIENT\tNATS\tMONITOR\tREGION\tGATEWAY\tNEIGHBORS")
	} else {
		fmt.Fprintln(tw, "NODE\tCLIENT\tNATS\tMONITOR\tNEIGHBORS")
	}
	for _, n := range h.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t", n.Name(), n.ClientAddr(), n.NATS().ClientURL(), or(n.MonitorURL(), "-"))
		if len(regions) > 1 {
			fmt.Fprintf(tw, "%s\t%s\t", hf.Region(n.Name()), n.NATS().GatewayAddr())
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(hf.Neighbors(n.Name()), ", "))
	}
	tw.Flush()
	if u := h.Nodes[0].MonitorURL(); u != "" {
		fmt.Fprintf(e.stdout, "\nLive view of the herd: %s/ (every node's monitor URL serves it)\n", u)
	}
	fmt.Fprintf(e.stdout, "\nPlaces provider: %s. Try: herd client %s   (Ctrl-C stops the herd)\n", hf.Places.Provider, h.Nodes[0].ClientAddr())
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
