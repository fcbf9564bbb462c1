package node

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node/nodetest/logbuf"
)

// A burst of slow-consumer errors is logged once; another error is
// logged too.
func TestNatsErrors_Handler(t *testing.T) {
	var logs logbuf.Buffer
	handle := natsErrorHandler(slog.New(slog.NewTextHandler(&logs, nil)))
	for range 5 {
		handle(nil, nil, nats.ErrSlowConsumer)
	}
	handle(nil, nil, errors.New("something else"))
	out := logs.String()
	if got := strings.Count(out, "slow consumer"); got != 1 {
		t.Errorf("slow consumer logged %d times, want 1:\n%s", got, out)
	}
	if !strings.Contains(out, "something else") {
		t.Errorf("other error not logged:\n%s", out)
	}
}
