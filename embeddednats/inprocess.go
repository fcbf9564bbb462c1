package embeddednats

import (
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// inProcessTimeout bounds the handshake of an in-process connection (nats
// Timeout; opts may set another). The server runs in this process, so no
// network can lose the handshake; only a starved machine or a reload
// holding the server slows it. nats.go's default of 2 s failed a node's
// start on a loaded machine ("connect in-process: read pipe: i/o
// timeout"); the bus's own link allows 10 s too (bus.linkTimeout).
const inProcessTimeout = 10 * time.Second

// wrappedServer hands nats.go the client's end of each in-process pipe
// through wrap (Server.wrapPipe, for tests).
type wrappedServer struct {
	srv  *server.Server
	wrap func(net.Conn) net.Conn
}

var _ nats.InProcessConnProvider = wrappedServer{}

func (w wrappedServer) InProcessConn() (net.Conn, error) {
	c, err := w.srv.InProcessConn()
	if err != nil {
		return nil, err
	}
	return w.wrap(c), nil
}

// Connect returns a nats.go connection to this server over an in-process
// pipe, named after the node unless opts set another name. It
// authenticates as the node, with full rights in Account, whatever opts
// say about credentials. Close closes it.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return s.connect(s.id, opts)
}

// ConnectSystem is Connect in SystemAccount, for the chaos service, which
// only the system user reaches there. It needs Config.Chaos.
func (s *Server) ConnectSystem(opts ...nats.Option) (*nats.Conn, error) {
	if s.sysID == nil {
		return nil, fmt.Errorf("connect in-process to the system account: %w", ErrNoChaos)
	}
	return s.connect(s.sysID, opts)
}

// Credential is how an in-process connection authenticates as the node:
// CONNECT's nkey, and sig, the server's nonce signed with Sign (base64,
// raw URL encoding).
type Credential struct {
	Nkey string
	Sign func(nonce []byte) ([]byte, error)
}

// DialInProcess returns a raw in-process connection to this server, for
// a client that speaks the NATS protocol itself (the flood's receiver),
// and the node's credential to authenticate with (Account, full rights).
// The server sends its INFO first. Close the connection when done; the
// server's shutdown closes it too.
func (s *Server) DialInProcess() (net.Conn, Credential, error) {
	srv, err := s.running()
	if err != nil {
		return nil, Credential{}, fmt.Errorf("dial in-process: %w", err)
	}
	c, err := srv.InProcessConn()
	if err != nil {
		return nil, Credential{}, fmt.Errorf("dial in-process: %w", err)
	}
	return c, Credential{Nkey: s.id.pub, Sign: s.id.sign}, nil
}

func (s *Server) connect(id *nodeIdentity, opts []nats.Option) (*nats.Conn, error) {
	srv, err := s.running()
	if err != nil {
		return nil, fmt.Errorf("connect in-process: %w", err)
	}
	o := nats.GetDefaultOptions()
	o.Name = s.cfg.Name
	o.Timeout = inProcessTimeout
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("apply nats option: %w", err)
		}
	}
	o.InProcessServer = srv
	if s.wrapPipe != nil {
		o.InProcessServer = wrappedServer{srv, s.wrapPipe}
	}
	o.User, o.Password, o.Token, o.UserJWT, o.TokenHandler = "", "", "", nil, nil
	o.Nkey, o.SignatureCB = id.pub, id.sign
	userClosed := o.ClosedCB
	o.ClosedCB = func(nc *nats.Conn) {
		s.forget(nc)
		if userClosed != nil {
			userClosed(nc)
		}
	}
	// Only the first PING is dialled through here: an io.EOF in process
	// is as likely this server closing, which must fail the node's start
	// at once, not after inProcessTimeout.
	nc, err := redial(o.Timeout, o.Connect, pingBeforePong)
	if err != nil {
		return nil, fmt.Errorf("connect in-process: %w", err)
	}
	s.mu.Lock()
	if s.state != stateRunning {
		s.mu.Unlock()
		nc.Close()
		return nil, fmt.Errorf("connect in-process: %w", ErrClosed)
	}
	if !nc.IsClosed() {
		s.conns[nc] = struct{}{}
	}
	s.mu.Unlock()
	return nc, nil
}

func (s *Server) forget(nc *nats.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}
