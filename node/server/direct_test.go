package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// connPair is a conn of ts's server over a real TCP connection, and the
// client's end of it.
func connPair(t *testing.T, ts *testServer) (*conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(ts.Server, nc)
	t.Cleanup(func() {
		c.q.close()
		if c.writer != nil {
			<-c.writer
		}
		c.cancel()
		nc.Close()
	})
	return c, client.(*net.TCPConn)
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

// A small batch with nothing queued is written by the read loop itself:
// the write loop is never started. A batch larger than directWriteMax
// (a pipelining client) goes to the write loop.
func TestConn_sendDirect(t *testing.T) {
	ts := startServer(t, nil)
	c, client := connPair(t, ts)
	for i := range 3 {
		batch := []byte("AT Goloman +0.1 c +1+1 1\n")
		want := bytes.Clone(batch)
		if !c.send(&batch) {
			t.Fatalf("send %d failed", i)
		}
		if len(batch) != 0 {
			t.Fatalf("send %d left %d bytes in the batch", i, len(batch))
		}
		if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("reply %d: %q, want %q", i, got, want)
		}
	}
	if c.writer != nil {
		t.Fatal("small replies with nothing queued started the write loop")
	}

	big := bytes.Repeat([]byte("x"), directWriteMax+1)
	batch := bytes.Clone(big)
	if !c.send(&batch) {
		t.Fatal("send of a large batch failed")
	}
	if c.writer == nil {
		t.Fatal("a batch over directWriteMax did not go to the write loop")
	}
	if got := readN(t, client, len(big)); !bytes.Equal(got, big) {
		t.Fatal("large batch garbled")
	}
}

// A client that does not read fills its socket: the small batch the read
// loop cannot write within directWriteWait goes to the write loop, the
// read loop goes on, and every byte arrives in order once the client reads.
func TestConn_sendDirectSocketFull(t *testing.T) {
	ts := startServer(t, nil)
	c, client := connPair(t, ts)
	client.SetReadBuffer(4096)
	c.nc.(*net.TCPConn).SetWriteBuffer(4096)
	var sent bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; c.writer == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes written directly to a client that does not read", sent.Len())
		}
		line := []byte("AT Goloman +0.1 c +1+1 " + string(rune('a'+i%26)) + "\n")
		batch := bytes.Repeat(line, directWriteMax/len(line))
		sent.Write(batch)
		start := time.Now()
		if !c.send(&batch) {
			t.Fatal("send failed")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("send blocked the read loop for %s", d)
		}
	}
	// Nothing more is written directly while the write loop holds replies.
	more := []byte("AT Goloman +0.1 c +1+1 last\n")
	sent.Write(more)
	if !c.send(&more) {
		t.Fatal("send failed")
	}
	if got := readN(t, client, sent.Len()); !bytes.Equal(got, sent.Bytes()) {
		t.Fatal("replies out of order or garbled after the socket filled")
	}
}
