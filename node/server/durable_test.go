package server

import (
	"bufio"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/nodetest/wait"
	"github.com/herdhq/herd/node/store"
)

// gatedLog is a core.Log whose tickets are decided when open is closed,
// with err; waiting receives a value each time a Wait begins.
type gatedLog struct {
	open    chan struct{}
	err     error
	waiting chan string
}

type gatedTicket struct {
	l    *gatedLog
	line string
}

func (l *gatedLog) Append(r record.Record) core.Ticket { return gatedTicket{l, r.Line} }

func (t gatedTicket) Wait(ctx context.Context) error {
	t.l.waiting <- t.line
	select {
	case <-t.l.open:
		return t.l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func startDurable(t *testing.T, l *gatedLog) *testServer {
	t.Helper()
	ts := &testServer{store: store.New(), places: &fakePlaces{n: 1}, stored: make(chanFlood, 100)}
	c, err := core.New(core.Config{Name: "Goloman", Clock: fixedClock{}, Log: l}, ts.store, ts.places, ts.stored)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(DefaultConfig(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts.Server = s
	return ts
}

// A stored IAMAT's reply is written only once its ticket is decided (fsync
// always: once the record is on disk), and the connection goes on reading
// and storing meanwhile; the batch behind it waits on its own ticket. A
// ticket the disk refused still gets its reply (the node serves from
// memory). Without the wait the reply would be readable at once.
func TestConn_ReplyWaitsForTicket(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{{"on disk", nil}, {"disk refused", errors.New("record not persisted: no space left on device")}} {
		t.Run(tt.name, func(t *testing.T) {
			l := &gatedLog{open: make(chan struct{}), err: tt.err, waiting: make(chan string, 10)}
			ts := startDurable(t, l)
			c := ts.dial(t)
			if _, err := c.Write([]byte("IAMAT a +1+1 1621464827\n")); err != nil {
				t.Fatal(err)
			}
			const atA = "AT Goloman +1.223372037 a +1+1 1621464827"
			select {
			case got := <-l.waiting:
				if got != atA {
					t.Fatalf("write loop waits on %q, want a's ticket", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("nothing waited on a's ticket before replying")
			}
			// The write loop is inside Wait: nothing can have been written.
			c.SetReadDeadline(time.Now())
			var one [1]byte
			if n, err := c.Read(one[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read %d bytes (%v) before the ticket was decided", n, err)
			}
			// Reading goes on: b is stored while a's reply waits.
			if _, err := c.Write([]byte("IAMAT b +2+2 1621464827\n")); err != nil {
				t.Fatal(err)
			}
			wait.For(t, "b stored while a's reply waits", func() bool { _, ok := ts.store.Get("b"); return ok })
			close(l.open)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for _, want := range []string{atA, "AT Goloman +1.223372037 b +2+2 1621464827"} {
				if got, err := br.ReadString('\n'); err != nil || got != want+"\n" {
					t.Fatalf("reply %q, %v; want %q", got, err, want)
				}
			}
		})
	}
}
