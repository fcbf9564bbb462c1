package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/chaos"
)

// serverFlags say which node of which herd herd chaos talks to, and how.
type serverFlags struct {
	Server  string        `short:"s" default:"${chaosServer}" env:"NATS_URL" help:"NATS client URL of any node of the herd (its nats address). The cluster takes each command to the nodes concerned; a node it does not reach is dialled at its own nats address."`
	Timeout time.Duration `default:"5s" help:"How long to wait for each node's answer."`
}

// dial connects to the herd as the system user: user $NATS_USER or sys,
// password $HERD_SYSTEM_PASSWORD or $NATS_PASSWORD.
func (f serverFlags) dial(e env) (*chaos.Client, error) {
	user := or(e.getenv("NATS_USER"), embeddednats.DefaultSystemUser)
	pw := or(e.getenv("HERD_SYSTEM_PASSWORD"), e.getenv("NATS_PASSWORD"))
	return chaos.Dial(f.Server, user, pw, f.Timeout)
}

// AfterApply hands the parsed server flags to the subcommand's Run.
func (c *chaosCmd) AfterApply(kctx *kong.Context) error {
	kctx.Bind(c.serverFlags)
	return nil
}

func (f serverFlags) run(ctx context.Context, e env, fn func(context.Context, *chaos.Client) (string, error)) error {
	cl, err := f.dial(e)
	if err != nil {
		return salvageHint(err)
	}
	defer cl.Close()
	msg, err := fn(ctx, cl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, msg)
	return err
}

// forFlag makes a cut or a stop end by itself.
type forFlag struct {
	For time.Duration `help:"Heal (start) by itself after this long, e.g. 30s; 0: until told."`
}

func (f forFlag) text() string {
	if f.For <= 0 {
		return ""
	}
	return " for " + f.For.String()
}

type chaosCmd struct {
	serverFlags
	Cut       chaosCutCmd       `cmd:"" help:"Cut the route between two nodes (both stay up): herd chaos cut Goloman Hands [--for 30s]"`
	Heal      chaosHealCmd      `cmd:"" help:"Heal the route between two nodes."`
	Partition chaosPartitionCmd `cmd:"" help:"Cut every route between groups: herd chaos partition Goloman,Hands,Wilkes Holiday,Welsh"`
	HealAll   chaosHealAllCmd   `cmd:"" name:"heal-all" help:"Heal every cut route of every node."`
	Stop      chaosStopCmd      `cmd:"" help:"Stop a node: its client port and routes close (so the flood stops); the process and its NATS port stay."`
	Start     chaosStartCmd     `cmd:"" help:"Start a stopped node again."`
	Status    chaosStatusCmd    `cmd:"" help:"Show every node's cuts and whether it is stopped, with their age."`
}

type chaosCutCmd struct {
	forFlag
	A string `arg:"" help:"One node."`
	B string `arg:"" help:"The other node."`
}

func (c *chaosCutCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		return fmt.Sprintf("cut %s–%s%s", c.A, c.B, c.text()), cl.Cut(ctx, c.A, c.B, c.For)
	})
}

type chaosHealCmd struct {
	A string `arg:"" help:"One node."`
	B string `arg:"" help:"The other node."`
}

func (c *chaosHealCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		return fmt.Sprintf("healed %s–%s", c.A, c.B), cl.Heal(ctx, c.A, c.B)
	})
}

type chaosPartitionCmd struct {
	forFlag
	Groups []string `arg:"" help:"Two or more comma-separated groups of nodes."`
}

func (c *chaosPartitionCmd) Run(ctx context.Context, e env, f serverFlags) error {
	groups := make([][]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = strings.Split(g, ",")
	}
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		return fmt.Sprintf("partitioned %s%s", strings.Join(c.Groups, " | "), c.text()), cl.Partition(ctx, c.For, groups...)
	})
}

type chaosHealAllCmd struct{}

func (c *chaosHealAllCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		return "healed every route", cl.HealAll(ctx)
	})
}

type chaosStopCmd struct {
	forFlag
	Node string `arg:"" help:"The node."`
}

func (c *chaosStopCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		st, err := cl.Stop(ctx, c.Node, c.For)
		return fmt.Sprintf("stopped %s%s (its NATS port %s stays up)", c.Node, c.text(), st.NATS), err
	})
}

type chaosStartCmd struct {
	Node string `arg:"" help:"The node."`
}

func (c *chaosStartCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		_, err := cl.Start(ctx, c.Node)
		return "started " + c.Node, err
	})
}

type chaosStatusCmd struct{}

func (c *chaosStatusCmd) Run(ctx context.Context, e env, f serverFlags) error {
	return f.run(ctx, e, func(ctx context.Context, cl *chaos.Client) (string, error) {
		v, err := cl.Discover(ctx)
		if err != nil {
			return "", err
		}
		return formatStatus(v), nil
	})
}

// formatStatus is the herd's chaos state: a line per node, then one line
// each for the cut routes, the stopped and the unreachable nodes, which
// scripts can grep.
func formatStatus(v *chaos.View) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tNATS\tCUT ROUTES TO\tROUTED TO")
	type edge struct{ a, b string }
	cutAt := map[edge][]string{} // route → the nodes that cut it
	var stopped, unreachable []string
	for _, n := range v.Names {
		st, ok := v.Nodes[n]
		if !ok {
			fmt.Fprintf(tw, "%s\tunreachable\t-\t-\t-\n", n)
			unreachable = append(unreachable, fmt.Sprintf("%s (%v)", n, v.Unreachable[n]))
			continue
		}
		state := "running"
		if st.Stopped != nil {
			state = "stopped " + since(*st.Stopped)
			stopped = append(stopped, n+" ("+since(*st.Stopped)+")")
		}
		var cuts []string
		for _, c := range st.Cuts {
			cuts = append(cuts, c.Peer+" ("+since(c.Since)+")")
			e := edge{min(n, c.Peer), max(n, c.Peer)}
			cutAt[e] = append(cutAt[e], n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, state, st.NATS, or(strings.Join(cuts, ", "), "-"), or(strings.Join(st.Routes, " "), "-"))
	}
	tw.Flush()
	var cuts []string
	for e, at := range cutAt {
		c := e.a + "–" + e.b
		if len(at) == 1 { // the other end did not apply it (or is unreachable)
			c += " (at " + at[0] + " only)"
		}
		cuts = append(cuts, c)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	fmt.Fprintf(&b, "cut: %s\nstopped: %s\n", strings.Join(cuts, " "), strings.Join(stopped, " "))
	if len(unreachable) > 0 {
		fmt.Fprintf(&b, "unreachable: %s\n", strings.Join(unreachable, " "))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// since is a state's age, and what it has left if it ends by itself.
func since(s chaos.Since) string {
	if s.Left != "" {
		return s.Age + ", " + s.Left + " left"
	}
	return s.Age
}

// chaosServerVar is the default of --server: the NATS address of the first
// node of the built-in herd (Goloman).
func chaosServerVar() kong.Vars {
	hf, err := loadHerdFile("")
	if err != nil || len(hf.Nodes) == 0 {
		return kong.Vars{"chaosServer": ""}
	}
	return kong.Vars{"chaosServer": "nats://" + hf.Nodes[0].NATS}
}
