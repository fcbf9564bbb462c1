package embeddednats

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Dial connects a nats.go client to a herd node's NATS address url
// (nats://host:port), as herd chaos and herd bench's probe do. It dials
// again while the server interrupts the handshake, until timeout has
// passed; any other error it returns at once. The two interruptions, both
// harmless to a second attempt:
//   - nats-server closes a connecting client of another account ($SYS)
//     whose options it reloads meanwhile (server/reload.go,
//     clientHasMovedToDifferentAccount), and every chaos cut and heal
//     reloads them: nats.go sees io.EOF;
//   - nats-server sends a client its first PING 2 s after the accept
//     (firstClientPingInterval) whether or not the CONNECT has been
//     answered; when the CONNECT took longer (a reload holds the server,
//     the machine is starved) nats.go gets that PING before the
//     handshake's PONG and refuses it ("expected 'PONG', got 'PING'").
//
// Each attempt waits up to timeout for its handshake unless opts set
// another nats.Timeout.
func Dial(url string, timeout time.Duration, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Timeout(timeout)}, opts...)
	return redial(timeout, func() (*nats.Conn, error) { return nats.Connect(url, opts...) }, interrupted)
}

// pingBeforePongText is how nats.go (v1.55, sendConnect) refuses a
// handshake in which the server's PING came before its PONG; it has no
// error value.
const pingBeforePongText = "expected 'PONG', got 'PING'"

// pingBeforePong reports whether err is nats.go's refusal of a handshake
// that the server's first PING overtook.
func pingBeforePong(err error) bool {
	return err != nil && strings.Contains(err.Error(), pingBeforePongText)
}

// interrupted reports whether err is one of Dial's two interrupted
// handshakes.
func interrupted(err error) bool {
	return errors.Is(err, io.EOF) || pingBeforePong(err)
}

// redial calls connect again while again(err) holds and timeout allows,
// with a growing pause between attempts (a reload or a starved machine
// needs a moment; both interruptions take the server's time, so a tight
// loop would only add to it).
func redial(timeout time.Duration, connect func() (*nats.Conn, error), again func(error) bool) (*nats.Conn, error) {
	deadline := time.Now().Add(timeout)
	for attempt := 1; ; attempt++ {
		nc, err := connect()
		pause := time.Duration(attempt) * 20 * time.Millisecond
		if err == nil || !again(err) || time.Now().Add(pause).After(deadline) {
			return nc, err
		}
		time.Sleep(pause)
	}
}
