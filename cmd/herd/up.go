package main

import (
	"context"
	"fmt"
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
	Profile     profileFlags  `embed:""`
}

func (c *upCmd) Run(ctx context.Context, e env) error {
	hf, err := loadHerdFile(c.Config)
	if err != nil {
		return err
	}
	stopProfile, err := c.Profile.start(e)
	defer stopProfile()
	if err != nil {
		return err
	}
	log := herdrun.Logger(hf.Log, e.stderr)
	ps, err := herdrun.NewProviders(hf, e.getenv)
	if err != nil {
		return err
	}
	defer ps.Close()
	started := time.Now()
	h, err := herdrun.Start(ctx, hf, nil, ps, log)
	if err != nil {
		return err
	}
	defer h.Close()
	fctx, cancel := context.WithTimeout(ctx, c.FormTimeout)
	err = h.WaitFormed(fctx, len(hf.Nodes)-1)
	cancel()
	if err != nil {
		return fmt.Errorf("wait for the cluster to form: %w", err)
	}
	printHerd(e, hf, h, time.Since(started))
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "shutting down")
	return h.Close()
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
	fmt.Fprintf(e.stdout, "herd %q is up: %d nodes, cluster formed in %s\n\n", hf.Herd, len(h.Nodes), took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCLIENT\tNATS\tNEIGHBORS")
	for _, n := range h.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name(), n.ClientAddr(), n.NATS().ClientURL(), strings.Join(hf.Neighbors(n.Name()), ", "))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\nPlaces provider: %s. Try: herd client %s   (Ctrl-C stops the herd)\n", hf.Places.Provider, h.Nodes[0].ClientAddr())
}
