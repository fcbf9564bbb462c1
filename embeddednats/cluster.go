package embeddednats

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// pollInterval is how often the Wait helpers look at the server's state.
const pollInterval = 10 * time.Millisecond

// NumPeers is the number of remote servers currently connected by an
// accepted route (not route connections: nats-server pools several per
// remote). See acceptedPeers.
func (s *Server) NumPeers() int {
	srv, err := s.running()
	if err != nil {
		return 0
	}
	return acceptedPeers(srv)
}

// Peers returns the sorted names of the remote servers currently connected
// by an accepted route.
func (s *Server) Peers() []string {
	srv, err := s.running()
	if err != nil {
		return nil
	}
	rz, err := srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(rz.Routes))
	for _, r := range rz.Routes {
		if r.RemoteName != "" && r.NumSubs > 0 {
			names = append(names, r.RemoteName)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// WaitClusterFormed waits until exactly n remote servers are connected by
// route and each has sent its subscription interest, and, in a herd of
// several regions, until this server delivers to every other region (its
// gateway is up and knows the region's interest: see GatewayState.Up),
// polling until ctx ends. The interest is the proof that the remote
// accepted the route: a server that dials a remote is told the remote's
// identity (and counts it in NumPeers) a moment before the remote refuses
// its credentials.
func (s *Server) WaitClusterFormed(ctx context.Context, n int) error {
	regions := s.RegionNames()
	err := s.poll(ctx, func(srv *server.Server) bool {
		return srv.NumRemotes() == n && acceptedPeers(srv) == n && gatewaysFormed(srv, regions)
	})
	switch {
	case err != nil && len(regions) > 0:
		return fmt.Errorf("wait for %d peers (have %v) and gateways to %v (missing %v): %w", n, s.Peers(), regions, s.MissingRegions(), err)
	case err != nil:
		return fmt.Errorf("wait for %d peers (have %v): %w", n, s.Peers(), err)
	}
	return nil
}

// acceptedPeers counts the remote servers that have sent interest over a
// route. Every server has system account subscriptions, so a remote that
// accepted the route always sends some.
func acceptedPeers(srv *server.Server) int {
	rz, err := srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	peers := map[string]bool{}
	for _, r := range rz.Routes {
		if r.RemoteName != "" && r.NumSubs > 0 {
			peers[r.RemoteName] = true
		}
	}
	return len(peers)
}

// WaitInterest waits until some subscription matching subject — local, on
// a remote server and propagated over a route, or in another region and
// told over a gateway — is known to this server, i.e. until a publish here
// would be delivered.
func (s *Server) WaitInterest(ctx context.Context, subject string) error {
	err := s.poll(ctx, func(srv *server.Server) bool { return s.hasInterest(srv, subject) })
	if err != nil {
		return fmt.Errorf("wait for interest in %q: %w", subject, err)
	}
	return nil
}

// HasInterest reports whether a publish on subject here would currently
// reach any subscriber, local or remote, in this region or another.
func (s *Server) HasInterest(subject string) bool {
	srv, err := s.running()
	return err == nil && s.hasInterest(srv, subject)
}

// hasInterest looks in Account, where the nodes and observers are and
// whose interest routes propagate, then at the interest other regions
// told this server's gateways.
func (s *Server) hasInterest(srv *server.Server, subject string) bool {
	acc, err := srv.LookupAccount(Account)
	if err == nil && acc.SubscriptionInterest(subject) {
		return true
	}
	return s.cfg.GatewayAddr != "" && gatewayInterest(srv, subject)
}

// poll calls cond until it is true, the server stops or ctx ends.
func (s *Server) poll(ctx context.Context, cond func(*server.Server) bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		srv, err := s.running()
		if err != nil {
			return err
		}
		if cond(srv) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		case <-t.C:
		}
	}
}
