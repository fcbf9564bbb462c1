package nodetest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/chaos"
)

// Chaos drives the chaos services of a herd WithChaos, as herd chaos does:
// each call dials a running node's NATS client port as the system user
// and sends each node concerned its part (node/chaos Client). It also
// remembers what it cut and stopped, so that WaitRoutes knows which
// routes to expect.
type Chaos struct {
	h *Herd

	mu      sync.Mutex // guards cuts and stopped
	cuts    map[[2]string]bool
	stopped map[string]bool
}

func edge(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// client dials the first running node that chaos has not stopped.
func (c *Chaos) client() (*chaos.Client, error) {
	var server string
	for _, name := range c.h.Live() {
		c.mu.Lock()
		stopped := c.stopped[name]
		c.mu.Unlock()
		if n := c.h.Node(name); n != nil && !stopped {
			server = n.NATS().ClientURL()
			break
		}
	}
	return chaos.Dial(server, embeddednats.DefaultSystemUser, ChaosPassword, 10*time.Second)
}

func (c *Chaos) do(fn func(context.Context, *chaos.Client) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return fn(ctx, cl)
}

// Cut cuts the route between a and b.
func (c *Chaos) Cut(a, b string) error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { return cl.Cut(ctx, a, b, 0) }); err != nil {
		return err
	}
	c.mu.Lock()
	c.cuts[edge(a, b)] = true
	c.mu.Unlock()
	return nil
}

// Heal heals the route between a and b.
func (c *Chaos) Heal(a, b string) error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { return cl.Heal(ctx, a, b) }); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.cuts, edge(a, b))
	c.mu.Unlock()
	return nil
}

// Partition cuts every route between the groups.
func (c *Chaos) Partition(groups ...[]string) error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { return cl.Partition(ctx, 0, groups...) }); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					c.cuts[edge(a, b)] = true
				}
			}
		}
	}
	return nil
}

// HealAll heals every cut.
func (c *Chaos) HealAll() error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { return cl.HealAll(ctx) }); err != nil {
		return err
	}
	c.mu.Lock()
	clear(c.cuts)
	c.mu.Unlock()
	return nil
}

// Stop stops node name (its client port and routes); the node keeps
// running otherwise.
func (c *Chaos) Stop(name string) error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { _, err := cl.Stop(ctx, name, 0); return err }); err != nil {
		return err
	}
	c.mu.Lock()
	c.stopped[name] = true
	c.mu.Unlock()
	return nil
}

// Start starts node name again after Stop.
func (c *Chaos) Start(name string) error {
	if err := c.do(func(ctx context.Context, cl *chaos.Client) error { _, err := cl.Start(ctx, name); return err }); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.stopped, name)
	c.mu.Unlock()
	return nil
}

// Cuts lists the routes cut, sorted.
func (c *Chaos) Cuts() [][2]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.SortedFunc(maps.Keys(c.cuts), func(x, y [2]string) int {
		if x[0] != y[0] {
			return strings.Compare(x[0], y[0])
		}
		return strings.Compare(x[1], y[1])
	})
}

// isCut reports whether the route between a and b is cut, or a or b is
// stopped.
func (c *Chaos) isCut(a, b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cuts[edge(a, b)] || c.stopped[a] || c.stopped[b]
}

// started notes that node name was (re)started as a fresh process: it is
// not stopped, and cuts hold at the other ends.
func (c *Chaos) started(name string) {
	c.mu.Lock()
	delete(c.stopped, name)
	c.mu.Unlock()
}
