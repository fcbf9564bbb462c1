//go:build linux

// Command epollfloor asks whether the client port could cost less than a
// Go TCP line server: it answers every line with "AT " and the line (which
// herd bench counts as an IAMAT reply), on several ports in one process,
// either as echofloor does (-mode go: a goroutine per connection, Go's
// network poller) or from one epoll loop on one locked OS thread (-mode
// epoll: level-triggered, non-blocking reads and writes, no goroutine
// wake-ups). Its CPU per line at a paced rate bounds what a different
// client port could save (BENCHMARKS.md, "The floor of the required
// parts"):
//
//	go build -o epollfloor ./cmd/herd/benchdata/epollfloor
//	./epollfloor -mode epoll -addrs 127.0.0.1:22301,...,127.0.0.1:22305 &
//	herd bench -c herd.yaml --no-metrics --verify none --rate 10000 -d 20s
package main

import (
	"bytes"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/herdhq/herd/cmd/herd/benchdata/floorloop"
)

func main() {
	addrs := flag.String("addrs", "127.0.0.1:0", "listen addresses, comma-separated")
	mode := flag.String("mode", "go", "go: a goroutine per connection; epoll: one epoll loop on one thread")
	flag.Parse()
	var lns []*net.TCPListener
	for _, a := range strings.Split(*addrs, ",") {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			log.Fatal(err)
		}
		lns = append(lns, ln.(*net.TCPListener))
	}
	switch *mode {
	case "go":
		for _, ln := range lns {
			go floorloop.Accept(ln, floorloop.Echo)
		}
	case "epoll":
		go func() {
			if err := epollLoop(lns); err != nil {
				log.Fatal(err)
			}
		}()
	default:
		log.Fatalf("-mode %q: want go or epoll", *mode)
	}
	log.Printf("epollfloor: %d ports up (mode %s)", len(lns), *mode)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// epollLoop serves every listener from one OS thread: accept, read what
// is there, answer every complete line in one write. A write the socket
// does not take whole closes the connection (the bench reads its
// replies; this is a floor, not a server).
func epollLoop(lns []*net.TCPListener) error {
	runtime.LockOSThread()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	listeners := map[int]bool{}
	for _, ln := range lns {
		f, err := ln.File()
		if err != nil {
			return err
		}
		// A descriptor of our own: the os.File's finalizer would close
		// its one at the next collection, and the port would stop
		// accepting.
		fd, err := syscall.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return err
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			return err
		}
		listeners[fd] = true
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return err
		}
	}
	partial := map[int][]byte{} // per connection: the bytes of a line not yet complete
	events := make([]syscall.EpollEvent, 128)
	buf := make([]byte, 64<<10)
	out := make([]byte, 0, 64<<10)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if listeners[fd] {
				for {
					nfd, _, err := syscall.Accept4(fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					syscall.SetsockoptInt(nfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					partial[nfd] = nil
					cev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(nfd)}
					syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, nfd, &cev)
				}
				continue
			}
			rest, ok := partial[fd]
			if !ok {
				continue
			}
			r, err := syscall.Read(fd, buf)
			if r <= 0 {
				if err == syscall.EAGAIN {
					continue
				}
				syscall.Close(fd)
				delete(partial, fd)
				continue
			}
			data := buf[:r]
			if len(rest) > 0 {
				data = append(rest, data...)
			}
			out = out[:0]
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				out = append(out, "AT "...)
				out = append(out, data[:i+1]...)
				data = data[i+1:]
			}
			partial[fd] = append(rest[:0], data...)
			if len(out) > 0 {
				if w, err := syscall.Write(fd, out); err != nil || w != len(out) {
					syscall.Close(fd)
					delete(partial, fd)
				}
			}
		}
	}
}
