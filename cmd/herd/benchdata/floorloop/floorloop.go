// Package floorloop is the client loop the benchmark floors share
// (echofloor, epollfloor -mode go, floodfloor): a goroutine per
// connection reads lines and answers each, flushing when no further line
// is buffered, as the herd's client port does. One loop, so that the
// floors differ only in what they answer.
package floorloop

import (
	"bufio"
	"net"
)

// Reply writes the answer to one line (with its line ending) to w.
type Reply func(w *bufio.Writer, line []byte)

// Echo answers "AT " and the line, which herd bench counts as an IAMAT
// reply.
func Echo(w *bufio.Writer, line []byte) {
	w.WriteString("AT ")
	w.Write(line)
}

// Accept serves every connection ln accepts on its own goroutine, until
// ln is closed.
func Accept(ln net.Listener, reply Reply) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go Serve(c, reply)
	}
}

// Serve answers the lines of c until it is closed or a write fails.
func Serve(c net.Conn, reply Reply) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		reply(bw, line)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}
