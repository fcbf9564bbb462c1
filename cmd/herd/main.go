// Command herd runs a herd of location servers: the whole default herd in
// one process (herd up), one node of a herd file (herd node), a client for
// the line protocol (herd client), and more.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// cli is the whole command line.
type cli struct {
	Up      upCmd      `cmd:"" help:"Run every node of a herd file in this process (the built-in five-node herd by default)."`
	Node    nodeCmd    `cmd:"" help:"Run one node of a herd file."`
	Client  clientCmd  `cmd:"" help:"Send lines to a node's client port and print the replies (a friendlier nc)."`
	Check   checkCmd   `cmd:"" help:"Check a herd file, and the secrets and route certificates it names, as 'herd node' would read them; exit non-zero naming the field at fault."`
	Chaos   chaosCmd   `cmd:"" help:"Cut and heal routes, partition the herd, stop and start nodes of a herd running with chaos on (herd node --chaos, herd up --chaos), as the NATS system user."`
	Bench   benchCmd   `cmd:"" help:"Load-test a herd through its client ports: throughput, latency, flood convergence, and a check that every record reached every node."`
	Storage storageCmd `cmd:"" help:"Work on a node's records on disk (storage salvage)."`
	Version versionCmd `cmd:"" help:"Print the herd version."`
}

// env is what commands get from the outside world, so tests can run them
// in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, e, os.Args[1:]))
}

// exitCode carries kong's request to exit (after --help) out of Parse.
type exitCode int

// run parses args and runs the command; it returns the exit code.
func run(ctx context.Context, e env, args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			ec, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(ec)
		}
	}()
	var c cli
	parser, err := kong.New(&c,
		kong.Name("herd"),
		kong.Description("A herd of location servers that flood client locations to each other over NATS.\n\n"+
			"Start the built-in five-node herd with 'herd up', then talk to it with\n"+
			"'herd client Goloman' (IAMAT <client> <location> <time> / WHATSAT <client> <radius-km> <limit>)."),
		kong.UsageOnError(),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(e),
		chaosServerVar(),
	)
	if err != nil {
		fmt.Fprintln(e.stderr, "herd:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(e.stderr, "herd:", err)
		return 2
	}
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(e.stderr, "herd:", err)
		return 1
	}
	return 0
}
