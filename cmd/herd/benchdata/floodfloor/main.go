// Command floodfloor is the floor under the five-node herd's CPU per IAMAT:
// the parts the design requires and nothing else, each in the cheapest
// form this repository has. Every node of a herd file gets
//
//   - its embedded NATS server as the herd runs it (embeddednats: the
//     region's full mesh of routes, peers only, route credentials as
//     `herd up` generates them),
//   - its flood (bus: the raw in-process link both ways, the adaptive
//     publish window, one origin per message, relays by the flood rules)
//     over the herd's record store (node/store),
//   - and a client port that is echofloor's loop (floorloop: read a line,
//     answer, flush when nothing more is buffered) which, for an IAMAT,
//     builds the AT record, stores it and floods it.
//
// Left out: the command core's other commands, the connection limits and
// deadlines, metrics, anti-entropy, the live view, chaos, Places, logs.
// So its CPU per IAMAT at a paced rate is what a herd made of these parts
// cannot go below (BENCHMARKS.md, "The floor of the required parts"):
//
//	go build -o floodfloor ./cmd/herd/benchdata/floodfloor
//	./floodfloor -c herd.yaml &        # the herd file's client ports
//	herd bench -c herd.yaml --no-metrics --verify none --rate 10000 -d 20s
//
// -flood=false leaves out the NATS servers and the flood: each node is its
// client port and store only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/cmd/herd/benchdata/floorloop"
	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/store"
)

func main() {
	path := flag.String("c", "deploy/herd.yaml", "herd file: its nodes, client and cluster ports and neighbors")
	flood := flag.Bool("flood", true, "run the NATS servers and the flood (false: client ports and stores only)")
	linger := flag.Duration("linger", bus.DefaultConfig().Linger, "the flood's widest publish window (bus.Config.Linger)")
	observers := flag.Bool("observers", false, "NATS client ports on the herd file's nats addresses (for herd bench --mode probe --probe-via nats); else 127.0.0.1:0")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	hf, err := herdfile.Load(*path)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	password := embeddednats.Secret(rand.Text())

	var nodes []*floorNode
	for _, n := range hf.Nodes {
		fn := &floorNode{name: n.Name, st: store.New()}
		if *flood {
			if err := fn.startFlood(ctx, hf, n, password, *linger, *observers, quiet); err != nil {
				log.Fatalf("%s: %v", n.Name, err)
			}
		}
		nodes = append(nodes, fn)
	}
	if *flood {
		// The flood is up when every node's server sees every neighbor's
		// subscription (the bus subscribes on its link at Start).
		for _, fn := range nodes {
			for _, nb := range hf.Neighbors(fn.name) {
				if err := fn.nats.WaitInterest(ctx, bus.Subject(nb)); err != nil {
					log.Fatalf("%s: wait for %s: %v", fn.name, nb, err)
				}
			}
		}
	}
	for i, n := range hf.Nodes {
		ln, err := net.Listen("tcp", n.Client)
		if err != nil {
			log.Fatal(err)
		}
		go floorloop.Accept(ln, nodes[i].reply)
	}
	log.Printf("floodfloor: %d nodes up (flood %v)", len(nodes), *flood)
	<-ctx.Done()
	for _, fn := range nodes {
		if fn.bus != nil {
			fn.bus.Close()
			fn.nats.Close()
		}
	}
}

type floorNode struct {
	name string
	st   *store.Store
	nats *embeddednats.Server // nil with -flood=false
	bus  *bus.Bus
}

func (fn *floorNode) startFlood(ctx context.Context, hf herdfile.Config, n herdfile.Node, pw embeddednats.Secret, linger time.Duration, observers bool, quiet *slog.Logger) error {
	nc := embeddednats.DefaultConfig()
	nc.Name = n.Name
	nc.ClusterName = hf.Region(n.Name)
	nc.ClusterAddr = n.Cluster
	if observers {
		nc.ClientAddr = n.NATS
	}
	nc.Logger = quiet
	for _, m := range hf.Nodes {
		if m.Name != n.Name {
			nc.Peers = append(nc.Peers, embeddednats.Peer{Name: m.Name, Route: m.Cluster})
		}
	}
	nc.PeersOnly = true
	nc.RouteUser, nc.RoutePassword = "herd", pw
	srv, err := embeddednats.New(nc)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fn.nats = srv
	bc := bus.DefaultConfig()
	bc.Name = n.Name
	bc.Neighbors = hf.Neighbors(n.Name)
	bc.Linger = linger
	bc.Link = func() (bus.Link, error) {
		c, cr, err := srv.DialInProcess()
		return bus.Link{Conn: c, Nkey: cr.Nkey, Sign: cr.Sign}, err
	}
	b, err := bus.New(bc, fn.st)
	if err != nil {
		return err
	}
	fn.bus = b
	return b.Start(ctx)
}

// reply answers an IAMAT line with its AT record, which is stored and
// flooded first; anything else gets "?".
func (fn *floorNode) reply(w *bufio.Writer, line []byte) {
	if r, ok := fn.iamat(bytes.TrimRight(line, "\r\n")); ok {
		w.WriteString(r.Line)
		w.WriteByte('\n')
	} else {
		w.WriteString("? ")
		w.Write(line)
	}
}

// iamat handles "IAMAT client location time" with single spaces, no checks
// of the fields beyond that (the herd's parser checks them all).
func (fn *floorNode) iamat(line []byte) (record.Record, bool) {
	f := bytes.Split(line, []byte(" "))
	if len(f) != 4 || string(f[0]) != "IAMAT" {
		return record.Record{}, false
	}
	// A fixed time difference: the floor does not parse the client's
	// time (the herd does, for a few tens of nanoseconds).
	r := record.Build(fn.name, 263873386, f[1], f[2], f[3])
	if fn.st.Put(r) && fn.bus != nil {
		fn.bus.Publish(r)
	}
	return r, true
}
