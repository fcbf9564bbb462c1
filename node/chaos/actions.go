package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/herdhq/herd/embeddednats"
)

// The service's actions (cut, heal, stop, start), the timers that end
// them, and the status they leave. Each takes s.mu itself and returns the
// change to make at the gate, which handle (service.go) runs after
// answering (before, for start and heal).

// parseFor reads Request.For.
func parseFor(f string) (time.Duration, error) {
	if f == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(f)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: for %q: want a positive Go duration such as 30s or 2m", ErrBadRequest, f)
	}
	return d, nil
}

// checkPeers checks that peers are other nodes of the herd. s.mu is held.
func (s *Service) checkPeers(peers []string) error {
	if len(peers) == 0 {
		return fmt.Errorf("%w: no peers", ErrBadRequest)
	}
	for _, p := range peers {
		switch {
		case p == s.cfg.Name:
			return fmt.Errorf("%s: %w", p, ErrSameNode)
		case !slices.ContainsFunc(s.herd, func(m Member) bool { return m.Name == p }):
			return fmt.Errorf("%q: %w", p, ErrUnknownNode)
		case !slices.Contains(s.gate.PeerNames(), p):
			return fmt.Errorf("%s: %w", p, ErrOtherRegion)
		}
	}
	return nil
}

func (s *Service) cut(req Request) (func() error, error) {
	d, err := parseFor(req.For)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPeers(req.Peers); err != nil {
		return nil, err
	}
	now := time.Now()
	for _, p := range req.Peers {
		c := &cut{since: now}
		if old := s.cuts[p]; old != nil {
			old.stop()
			c.since = old.since
		}
		if d > 0 {
			c.until = now.Add(d)
			c.timer = time.AfterFunc(d, func() { s.expire(p, c) })
		}
		s.cuts[p] = c
	}
	s.log.Warn("chaos: routes cut", "peers", req.Peers, "for", forText(d))
	return s.apply, nil
}

// expire heals the cut c of peer when its time is up.
func (s *Service) expire(peer string, c *cut) {
	if !s.enter() {
		return
	}
	defer s.wg.Done()
	s.mu.Lock()
	if s.cuts[peer] != c {
		s.mu.Unlock()
		return
	}
	delete(s.cuts, peer)
	s.mu.Unlock()
	s.log.Warn("chaos: cut expired, route healed", "peer", peer)
	if err := s.apply(); err != nil {
		s.log.Error("chaos: heal expired cut", "peer", peer, "err", err)
	}
}

func (s *Service) heal(req Request) (func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peers := req.Peers
	if req.All {
		peers = slices.Sorted(maps.Keys(s.cuts))
	} else if err := s.checkPeers(peers); err != nil {
		return nil, err
	}
	for _, p := range peers {
		if c := s.cuts[p]; c != nil {
			c.stop()
			delete(s.cuts, p)
		}
	}
	s.log.Warn("chaos: routes healed", "peers", peers)
	return s.apply, nil
}

func (s *Service) stop(req Request) (func() error, error) {
	d, err := parseFor(req.For)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.stopped != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", s.cfg.Name, ErrStopped)
	}
	now := time.Now()
	st := &timed{since: now}
	if d > 0 {
		st.until = now.Add(d)
		st.timer = time.AfterFunc(d, func() { s.restart(st) })
	}
	s.stopped = st
	s.mu.Unlock()
	s.log.Warn("chaos: node stopped (client port and routes)", "for", forText(d))
	return func() error {
		s.applyMu.Lock()
		err := s.doors.PauseClients()
		s.applyMu.Unlock()
		return errors.Join(err, s.apply())
	}, nil
}

func (s *Service) start() (func() error, error) {
	s.mu.Lock()
	st := s.stopped
	if st == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", s.cfg.Name, ErrRunning)
	}
	st.stop()
	s.stopped = nil
	s.mu.Unlock()
	s.log.Warn("chaos: node started again")
	return s.resume, nil
}

// restart starts the node stopped as st when its time is up.
func (s *Service) restart(st *timed) {
	if !s.enter() {
		return
	}
	defer s.wg.Done()
	s.mu.Lock()
	if s.stopped != st {
		s.mu.Unlock()
		return
	}
	s.stopped = nil
	s.mu.Unlock()
	s.log.Warn("chaos: stop expired, node started again")
	if err := s.resume(); err != nil {
		s.log.Error("chaos: start after stop expired", "err", err)
	}
}

// resume opens the routes, then the client port.
func (s *Service) resume() error {
	err := s.apply()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.Stopped() { // stopped again meanwhile
		return err
	}
	return errors.Join(err, s.doors.ResumeClients(context.Background()))
}

// apply gives the gate the current state.
func (s *Service) apply() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	b := embeddednats.RouteBlock{All: s.stopped != nil, Peers: slices.Sorted(maps.Keys(s.cuts))}
	s.mu.Unlock()
	return s.gate.BlockRoutes(b)
}

// ageRound is the precision of the ages in Status.
const ageRound = 100 * time.Millisecond

// Status is the node's chaos state now.
func (s *Service) Status() Status {
	now := time.Now()
	st := Status{Node: s.cfg.Name, NATS: s.gate.ClientURL(), Routes: s.gate.Peers()}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Herd = slices.Clone(s.herd)
	if s.stopped != nil {
		st.Stopped = s.stopped.at(now)
	}
	for _, p := range slices.Sorted(maps.Keys(s.cuts)) {
		st.Cuts = append(st.Cuts, Cut{Peer: p, Since: *s.cuts[p].at(now)})
	}
	return st
}

func (t *timed) at(now time.Time) *Since {
	s := &Since{Since: t.since, Age: now.Sub(t.since).Round(ageRound).String()}
	if !t.until.IsZero() {
		s.Left = max(t.until.Sub(now), 0).Round(ageRound).String()
	}
	return s
}

func forText(d time.Duration) string {
	if d == 0 {
		return "until healed"
	}
	return d.String()
}
