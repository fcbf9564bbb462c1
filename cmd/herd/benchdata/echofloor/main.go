// Command echofloor is the floor under the herd's CPU per IAMAT on a
// machine: a minimal Go TCP line server that answers every line with
// "AT " and the line (which herd bench counts as an IAMAT reply), flushing
// when no further line is buffered, as the herd's client port does (the
// loop is floorloop's). Its CPU per line at a paced rate is what the read
// and write syscalls and the network poller's wake-ups cost there, before
// any herd work (BENCHMARKS.md, "TCP echo floor"):
//
//	go run ./cmd/herd/benchdata/echofloor -addr 127.0.0.1:22799 &
//	herd bench --addr 127.0.0.1:22799 --no-metrics --verify none --rate 10000 -d 20s
package main

import (
	"flag"
	"log"
	"net"

	"github.com/herdhq/herd/cmd/herd/benchdata/floorloop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echofloor listening on %s", ln.Addr())
	floorloop.Accept(ln, floorloop.Echo)
}
