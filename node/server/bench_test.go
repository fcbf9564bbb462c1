package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/store"
)

// BenchmarkRenderWhatsat renders a WHATSAT reply with the classic
// response shape around limit places.
func BenchmarkRenderWhatsat(b *testing.B) {
	rec, err := record.Parse([]byte("AT Goloman +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"))
	if err != nil {
		b.Fatal(err)
	}
	for _, limit := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			fp := &fakePlaces{n: limit}
			resp, err := fp.Nearby(context.Background(), places.Query{Lat: 34.07, Lng: -118.45, RadiusM: 10000, Limit: limit})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(RenderWhatsat(rec, resp))))
			b.ReportAllocs()
			for b.Loop() {
				RenderWhatsat(rec, resp)
			}
		})
	}
}

// iamatLines returns n IAMAT lines for clients distinct modulo 1<<16, each
// newer than the one before for its client.
// nopFlood drops what the core hands the flood.
type nopFlood struct{}

func (nopFlood) Publish(record.Record) {}

func iamatLines(n int) [][]byte {
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "IAMAT client%05d.cs.ucla.edu +34.068930-118.445127 1621464827.%09d", i&(1<<16-1), i)
	}
	return lines
}

// BenchmarkConn_HandleIAMAT is one IAMAT from parsed line to queued reply
// and stored record, without the socket: parse, time difference, record,
// store, flood hand-off. The one allocation is the stored record.
func BenchmarkConn_HandleIAMAT(b *testing.B) {
	s, err := New(DefaultConfig(), newCore(b, store.New(), &fakePlaces{}, nopFlood{}))
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{s: s}
	lines := iamatLines(1 << 20)
	batch := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		batch = batch[:0]
		if c.handle(&batch, lines[i&(len(lines)-1)]) != nil {
			b.Fatal("IAMAT returned a pending reply")
		}
		i++
	}
}

// BenchmarkServer_PipelinedIAMAT sends b.N IAMATs over one real TCP
// connection, pipelined, and reads every reply: the client port's whole
// per-line cost including framing, batching and syscalls.
func BenchmarkServer_PipelinedIAMAT(b *testing.B) {
	s, err := New(DefaultConfig(), newCore(b, store.New(), &fakePlaces{}, nopFlood{}))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	lines := iamatLines(1 << 16)
	var input []byte
	for _, l := range lines {
		input = append(append(input, l...), '\n')
	}
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		// Whole copies of the input, then the rest line by line.
		bw := bufio.NewWriterSize(nc, 64<<10)
		n := b.N
		for ; n >= len(lines); n -= len(lines) {
			bw.Write(input)
		}
		for _, l := range lines[:n] {
			bw.Write(l)
			bw.WriteByte('\n')
		}
		bw.Flush()
	}()
	br := bufio.NewReaderSize(nc, 64<<10)
	for range b.N {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if line[0] != 'A' {
			b.Fatalf("reply %q", line)
		}
	}
	b.StopTimer()
	if err := nc.Close(); err != nil {
		b.Fatal(err)
	}
}
