package natswire_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/natswire"
	"github.com/herdhq/herd/embeddednats"
)

var update = flag.Bool("update", false, "rewrite testdata/server-frames.bin from a real server")

// framesFile holds what a real nats-server sent a client that subscribed
// to herd.at.B: its INFO, a PONG, its INFO after CONNECT, flood messages with headers as the bus
// publishes them, a message without headers, and one with a reply
// subject. TestParse_realServer checks it is still what the server
// sends; the fuzz targets start from it.
const framesFile = "testdata/server-frames.bin"

// The messages TestParse_realServer publishes, in order.
var published = []struct {
	subject, reply string
	header         nats.Header
	data           string
}{
	{"herd.at.B", "", nats.Header{"Herd-Origin": {"A"}, "Herd-Sender": {"A"}, "Herd-Stamp": {"1796076363976129142"}},
		"AT A +0.000000001 c1 +1+1 1\nAT A +0.000000001 c2 +1+1 2"},
	{"herd.at.B", "", nats.Header{"Herd-Origin": {"C"}, "Herd-Sender": {"A"}, "Herd-Stamp": {"1"}}, "AT C +0.5 c3 -1-1 3"},
	{"herd.at.B", "", nil, "no headers"},
	{"herd.at.B", "_INBOX.x", nats.Header{"Herd-Origin": {"A"}}, ""},
}

// The server's frames parse into what was published, and their headers
// read as nats.go decodes them: frames the server sends now, and the
// file the fuzz targets start from.
func TestParse_realServer(t *testing.T) {
	if *update {
		if err := os.WriteFile(framesFile, capture(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(framesFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("live", func(t *testing.T) { checkStream(t, capture(t)) })
	t.Run("file", func(t *testing.T) { checkStream(t, file) })
	t.Run("file, pinged", func(t *testing.T) { checkStream(t, pinged(t, file)) })
}

// pinged is stream with the server's PING after every frame: a server
// pings a client that sent nothing for 2 s (its first ping), which a
// loaded machine can take between capture's CONNECT and its last read.
func pinged(t *testing.T, stream []byte) []byte {
	t.Helper()
	var out []byte
	for b := stream; len(b) > 0; {
		_, n, err := natswire.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b[:n]...), "PING\r\n"...)
		b = b[n:]
	}
	return out
}

func checkStream(t *testing.T, stream []byte) {
	var got []natswire.Frame
	for b := stream; len(b) > 0; {
		f, n, err := natswire.Parse(b)
		if err != nil {
			t.Fatalf("after %d frames: %v (%.40q)", len(got), err, b)
		}
		got = append(got, f)
		b = b[n:]
	}
	// The server may send INFO at any time (the protocol's async INFO:
	// one usually follows CONNECT, before or after the PONG), and PING
	// (keepalive: see pinged); the rest comes in order.
	if len(got) == 0 || got[0].Kind != natswire.Info {
		t.Fatalf("stream does not start with INFO: %d frames", len(got))
	}
	got = slices.DeleteFunc(got[1:], func(f natswire.Frame) bool { return f.Kind == natswire.Info || f.Kind == natswire.Ping })
	kinds := []natswire.Kind{natswire.Pong, natswire.Msg, natswire.Msg, natswire.Msg, natswire.Msg}
	if len(got) != len(kinds) {
		t.Fatalf("%d frames besides INFOs and PINGs, want %d", len(got), len(kinds))
	}
	for i, k := range kinds {
		if got[i].Kind != k {
			t.Errorf("frame %d besides INFOs and PINGs: %s, want %s", i, got[i].Kind, k)
		}
	}
	for i, p := range published {
		f := got[1+i]
		if string(f.Subject) != p.subject || string(f.Reply) != p.reply || string(f.Data) != p.data || string(f.SID) != "1" {
			t.Errorf("message %d: subject %q reply %q sid %q data %q, want %q %q 1 %q", i, f.Subject, f.Reply, f.SID, f.Data, p.subject, p.reply, p.data)
		}
		if (f.Header == nil) != (p.header == nil) {
			t.Errorf("message %d: header %q, published %v", i, f.Header, p.header)
			continue
		}
		if f.Header == nil {
			continue
		}
		checkHeader(t, f.Header)
		keys := []string{"Herd-Origin", "Herd-Sender", "Herd-Stamp"}
		vals := make([][]byte, len(keys))
		if err := natswire.ParseHeader(f.Header, keys, vals); err != nil {
			t.Fatal(err)
		}
		for j, k := range keys {
			if want := p.header.Get(k); string(vals[j]) != want || (vals[j] == nil) != (p.header[k] == nil) {
				t.Errorf("message %d: %s %q, published %q", i, k, vals[j], want)
			}
		}
	}
}

// checkHeader compares ParseHeader with nats.go's decoder on h.
func checkHeader(t *testing.T, h []byte) {
	t.Helper()
	keys := []string{"Herd-Origin", "Herd-Sender", "Herd-Stamp", "herd-origin", ""}
	vals := make([][]byte, len(keys))
	err := natswire.ParseHeader(h, keys, vals)
	want, werr := nats.DecodeHeadersMsg(h)
	if (err != nil) != (werr != nil) {
		t.Fatalf("ParseHeader(%q): %v; nats.go: %v", h, err, werr)
	}
	if err != nil {
		if !errors.Is(err, natswire.ErrBadHeader) {
			t.Fatalf("ParseHeader(%q): %v is not ErrBadHeader", h, err)
		}
		return
	}
	for i, k := range keys {
		wv, ok := want[k]
		if ok != (vals[i] != nil) || ok && wv[0] != string(vals[i]) {
			t.Fatalf("ParseHeader(%q) %q = %q (found %v), nats.go %q", h, k, vals[i], vals[i] != nil, wv)
		}
	}
}

// capture subscribes a raw in-process connection to herd.at.B, publishes
// the messages through nats.go, and returns every byte the server sent.
func capture(t *testing.T) []byte {
	t.Helper()
	cfg := embeddednats.DefaultConfig()
	cfg.Name, cfg.Logger = "capture", nil
	ns, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, cr, err := ns.DialInProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var stream []byte
	buf := make([]byte, 64<<10)
	// readUntil reads until the stream holds want frames of kind k.
	readUntil := func(k natswire.Kind, want int) {
		t.Helper()
		for count(stream, k) < want {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("read: %v after %q", err, stream)
			}
			stream = append(stream, buf[:n]...)
		}
	}
	readUntil(natswire.Info, 1)
	f, _, err := natswire.Parse(stream)
	if err != nil || f.Kind != natswire.Info {
		t.Fatalf("first frame %v, %v", f.Kind, err)
	}
	nonce := nonceOf(t, f.Arg)
	sig, err := cr.Sign(nonce)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT {\"verbose\":false,\"nkey\":%q,\"sig\":%q,\"headers\":true,\"protocol\":1}\r\nSUB herd.at.B 1\r\nPING\r\n", cr.Nkey, sigText(sig))
	readUntil(natswire.Pong, 1)
	pub, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, p := range published {
		m := &nats.Msg{Subject: p.subject, Reply: p.reply, Header: p.header, Data: []byte(p.data)}
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	readUntil(natswire.Msg, len(published))
	return stream
}

// fromMsg is b from its first MSG or HMSG frame on.
func fromMsg(b []byte) []byte {
	for len(b) > 0 {
		f, n, err := natswire.Parse(b)
		if err != nil || f.Kind == natswire.Msg {
			return b
		}
		b = b[n:]
	}
	return b
}

// count is how many whole frames b holds.
// count is the number of whole frames of kind k at the start of b.
func count(b []byte, k natswire.Kind) int {
	n := 0
	for {
		f, size, err := natswire.Parse(b)
		if err != nil {
			return n
		}
		b = b[size:]
		if f.Kind == k {
			n++
		}
	}
}

func nonceOf(t *testing.T, info []byte) []byte {
	t.Helper()
	var v struct{ Nonce string }
	if err := json.Unmarshal(info, &v); err != nil || v.Nonce == "" {
		t.Fatalf("INFO %s: no nonce (%v)", info, err)
	}
	return []byte(v.Nonce)
}

func sigText(sig []byte) string { return base64.RawURLEncoding.EncodeToString(sig) }
