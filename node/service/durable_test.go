package service

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/bus/record"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node/core"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/store"
)

// gatedLog is a core.Log whose tickets are decided when open is closed;
// waiting receives a value each time a Wait begins.
type gatedLog struct {
	open    chan struct{}
	waiting chan struct{}
}

func (l *gatedLog) Append(record.Record) core.Ticket { return l }

func (l *gatedLog) Wait(ctx context.Context) error {
	l.waiting <- struct{}{}
	select {
	case <-l.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// zeroPlaces answers every search with ZERO_RESULTS.
type zeroPlaces struct{}

func (zeroPlaces) Nearby(context.Context, places.Query) (places.Response, error) {
	return places.Response{Status: places.StatusZeroResults}, nil
}

type noFlood struct{}

func (noFlood) Publish(record.Record) {}

// herd.iamat answers a stored IAMAT only once its ticket is decided (fsync
// always: once the record is on disk), and the endpoint answers other
// requests meanwhile. Without the wait the reply would be there at once.
func TestService_IamatWaitsForTicket(t *testing.T) {
	cfg := embeddednats.DefaultConfig()
	cfg.Name = "A"
	ns, err := embeddednats.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	conn, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := &gatedLog{open: make(chan struct{}), waiting: make(chan struct{}, 10)}
	st := store.New()
	c, err := core.New(core.Config{Name: "A", Log: l}, st, zeroPlaces{}, noFlood{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Node: "A", MaxConcurrent: 1, Timeout: time.Second}, conn, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	client, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	inbox := nats.NewInbox()
	replies, err := client.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.PublishRequest(SubjectIAMAT, inbox, []byte(`{"client":"kiwi","location":"+1+1","time":"1621464827"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing waited on the IAMAT's ticket before replying")
	}
	// The reply is sent only after Wait returns: none can be on its way.
	if m, err := replies.NextMsg(0); err == nil {
		t.Fatalf("reply %q before the ticket was decided", m.Data)
	}
	// The endpoint is not held up: a WHATSAT is answered meanwhile.
	if m, err := client.Request(SubjectWHATSAT, []byte("WHATSAT kiwi 10 1"), 10*time.Second); err != nil || len(m.Data) == 0 {
		t.Fatalf("WHATSAT while the IAMAT waits: %v", err)
	}
	close(l.open)
	m, err := replies.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r IamatReply
	if err := json.Unmarshal(m.Data, &r); err != nil || !r.Stored || r.AT == "" {
		t.Fatalf("reply %q: %v", m.Data, err)
	}
}
