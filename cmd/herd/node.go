package main

import (
	"context"
	"fmt"
	"time"

	"github.com/herdhq/herd/cmd/internal/herdrun"
)

type nodeCmd struct {
	Config string `short:"c" required:"" type:"existingfile" help:"Herd file (YAML) describing every node."`
	Name   string `short:"n" required:"" help:"Which node of the herd file to run."`
}

func (c *nodeCmd) Run(ctx context.Context, e env) error {
	hf, err := loadHerdFile(c.Config)
	if err != nil {
		return err
	}
	log := herdrun.Logger(hf.Log, e.stderr)
	ps, err := herdrun.NewProviders(hf, e.getenv)
	if err != nil {
		return err
	}
	defer ps.Close()
	sec, err := herdrun.LoadSecurity(hf, e.getenv)
	if err != nil {
		return err
	}
	h, err := herdrun.Start(ctx, hf, []string{c.Name}, ps, log, herdrun.WithSecurity(sec))
	if err != nil {
		return err
	}
	defer h.Close()
	n := h.Nodes[0]
	fmt.Fprintf(e.stdout, "node %s up: client %s, nats %s, monitor %s, neighbors %v (started %s)\n",
		n.Name(), n.ClientAddr(), n.NATS().ClientURL(), or(n.MonitorURL(), "-"), hf.Neighbors(n.Name()), time.Now().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "node %s security: %s\n", n.Name(), sec.Summary())
	// Tell the operator when the herd is whole: until then, records may
	// miss the nodes not yet connected.
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		peers := len(hf.Nodes) - 1
		if err := n.WaitClusterFormed(ctx, peers); err == nil {
			fmt.Fprintf(e.stdout, "node %s joined the herd: %d peers\n", n.Name(), peers)
		}
	}()
	<-ctx.Done()
	<-joined // ends with ctx: one writer to stdout at a time
	fmt.Fprintln(e.stdout, "shutting down")
	return h.Close()
}
