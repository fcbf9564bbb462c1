package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herdhq/herd/cmd/internal/herdrun"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
)

type nodeCmd struct {
	Config string `short:"c" required:"" type:"existingfile" help:"Herd file (YAML) describing every node. SIGHUP reloads it: the node takes its new neighbors and peers (adding or removing nodes needs no restart)."`
	Name   string `short:"n" required:"" help:"Which node of the herd file to run."`
	Chaos  bool   `help:"Run the node with chaos on (as 'chaos: true' in the herd file): 'herd chaos' can cut its routes and stop and start it, as the system user (HERD_SYSTEM_PASSWORD)."`
	dataDir
}

func (c *nodeCmd) Run(ctx context.Context, e env) error {
	hf, log, ps, sec, err := setup(c.Config, c.Name, c.dataDir, e)
	if err != nil {
		return err
	}
	defer ps.Close()
	hf.Chaos = hf.Chaos || c.Chaos
	defer herdrun.TuneGC(ctx, e.getenv)()
	h, err := herdrun.Start(ctx, hf, []string{c.Name}, ps, log, herdrun.WithSecurity(sec))
	if err != nil {
		return salvageHint(err)
	}
	defer h.Close()
	n := h.Nodes[0]
	// The mesh watch and reloads print from two goroutines.
	e.stdout = &lockedWriter{w: e.stdout}
	fmt.Fprintf(e.stdout, "node %s up: client %s, nats %s, monitor %s, neighbors %v (started %s)\n",
		n.Name(), n.ClientAddr(), n.NATS().ClientURL(), or(n.MonitorURL(), "-"), hf.Neighbors(n.Name()), time.Now().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "node %s security: %s\n", n.Name(), sec.Summary())
	if n.Chaos() != nil {
		fmt.Fprintf(e.stdout, "node %s chaos: on (herd chaos --server %s ..., as the system user)\n", n.Name(), n.NATS().ClientURL())
	}
	mctx, stopMesh := context.WithCancel(ctx)
	meshDone := make(chan struct{})
	go func() {
		defer close(meshDone)
		watchMesh(mctx, e.stdout, log, n, time.Now)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			c.reload(e, log, hf, n)
		}
	}
	stopMesh()
	<-meshDone
	fmt.Fprintln(e.stdout, "shutting down")
	return h.Close()
}

// reload reads the herd file again and gives the node its new neighbors
// and peers. Everything else in the file (addresses, limits, security,
// Places) takes a restart; a change there is reported, not applied.
// `herd check` (the unit's ExecReload runs it first) refuses a file that
// would fail here.
func (c *nodeCmd) reload(e env, log *slog.Logger, old herdfile.Config, n *node.Node) {
	hf, err := loadHerdFile(c.Config)
	if err != nil {
		log.Error("reload herd file: keeping the running configuration", "err", err)
		return
	}
	self, ok := hf.Node(c.Name)
	if !ok {
		log.Error("reload herd file: this node is no longer in it; stop it when its neighbors have reloaded", "node", c.Name)
		return
	}
	if prev, _ := old.Node(c.Name); prev.Client != self.Client || prev.NATS != self.NATS ||
		prev.Cluster != self.Cluster || prev.Monitor != self.Monitor || prev.Gateway != self.Gateway {
		log.Warn("reload herd file: this node's addresses changed; they take a restart", "node", c.Name)
	}
	if !slices.Equal(old.Regions(), hf.Regions()) || old.Region(c.Name) != hf.Region(c.Name) {
		log.Warn("reload herd file: the regions changed; a node's region and the regions its gateways dial take a restart", "node", c.Name)
	}
	if err := n.SetNeighbors(hf.Neighbors(c.Name)); err != nil {
		log.Error("reload herd file: neighbors not changed", "err", err)
		return
	}
	added, removed, err := n.NATS().SetPeers(herdrun.Peers(hf, c.Name))
	if err != nil {
		log.Error("reload herd file: peers not changed", "err", err)
	}
	if cs := n.Chaos(); cs != nil {
		cs.SetHerd(herdrun.Members(hf))
	}
	var peers strings.Builder
	if len(added) > 0 {
		fmt.Fprintf(&peers, "; new peers %v", added)
	}
	if len(removed) > 0 {
		fmt.Fprintf(&peers, "; removed peers %v: their routes are closed and they are no longer dialled", removed)
	}
	fmt.Fprintf(e.stdout, "node %s reloaded the herd file: neighbors %v%s\n", c.Name, hf.Neighbors(c.Name), peers.String())
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
