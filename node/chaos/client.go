package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/embeddednats"
)

// DefaultTimeout bounds one request of the Client, and its wait for the
// nodes' status replies.
const DefaultTimeout = 5 * time.Second

// statusSettle is how long Discover waits for more status replies after
// the last one, once replies stop coming from the nodes it knows of.
const statusSettle = 300 * time.Millisecond

// Client drives the chaos services of a herd through any one of its nodes,
// as `herd chaos --server` does. Every command first asks every node for
// its status (StatusAll through the cluster, then, for a node the cluster
// does not reach, a request to its own NATS address, which its status
// replies name), then sends each node concerned its part.
type Client struct {
	server  string
	opts    []nats.Option
	timeout time.Duration

	mu    sync.Mutex // guards conns
	conns map[string]*nats.Conn
}

// Dial connects to server (nats://host:port) as user, who must be in the
// NATS system account: the herd file's system user.
func Dial(server, user, password string, timeout time.Duration) (*Client, error) {
	if user == "" || password == "" {
		return nil, fmt.Errorf("%w: set HERD_SYSTEM_PASSWORD (the system user sys), or NATS_USER and NATS_PASSWORD", ErrCredentials)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{server: server, timeout: timeout, conns: map[string]*nats.Conn{},
		opts: []nats.Option{nats.UserInfo(user, password), nats.Name("herd chaos"), nats.Timeout(timeout),
			nats.NoReconnect(), nats.IgnoreDiscoveredServers()}}
	if _, err := c.conn(server); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
	clear(c.conns)
}

// conn returns the connection to u, dialling it the first time.
func (c *Client) conn(u string) (*nats.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nc, ok := c.conns[u]; ok && !nc.IsClosed() {
		return nc, nil
	}
	nc, err := embeddednats.Dial(u, c.timeout, c.opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, fmt.Errorf("connect to %s: the server refused the credentials: wrong system password (HERD_SYSTEM_PASSWORD) or user (NATS_USER), or the herd has no system user: %w", u, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u, err)
	}
	c.conns[u] = nc
	return nc, nil
}

// View is the herd's chaos state as one Discover found it.
type View struct {
	// Names are the herd's nodes, in the order their herd files list
	// them.
	Names []string
	// Nodes are the status replies, by node.
	Nodes map[string]Status
	// Direct names the nodes the cluster did not reach, with the NATS URL
	// that did.
	Direct map[string]string
	// Unreachable are the nodes neither way reached, with why.
	Unreachable map[string]error
	addrs       map[string]string // node → NATS address from the herd files
}

// Discover asks every node of the herd for its status.
func (c *Client) Discover(ctx context.Context) (*View, error) {
	nc, err := c.conn(c.server)
	if err != nil {
		return nil, err
	}
	v := &View{Nodes: map[string]Status{}, Direct: map[string]string{}, Unreachable: map[string]error{}, addrs: map[string]string{}}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("ask for status: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(StatusAll, inbox, nil); err != nil {
		return nil, fmt.Errorf("ask for status: %w", err)
	}
	deadline := time.Now().Add(c.timeout)
	wait := c.timeout
	for {
		if d := time.Until(deadline); d < wait {
			wait = d
		}
		if wait <= 0 {
			break
		}
		m, err := sub.NextMsg(wait)
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) {
				break
			}
			return nil, fmt.Errorf("ask for status: %w", err)
		}
		var st Status
		if json.Unmarshal(m.Data, &st) != nil || st.Node == "" {
			continue
		}
		v.add(st, "")
		if v.complete() {
			break
		}
		wait = statusSettle
	}
	if len(v.Nodes) == 0 {
		if err := nc.LastError(); err != nil {
			return nil, fmt.Errorf("ask %s for status: %w", c.server, err)
		}
		return nil, fmt.Errorf("%w at %s within %v: is the herd running with chaos on (herd node --chaos, herd up --chaos, or chaos: true in the herd file), and is the user in the system account?", ErrNoService, c.server, c.timeout)
	}
	// The nodes the cluster does not reach, each through its own port.
	for _, name := range v.Names {
		if _, ok := v.Nodes[name]; ok {
			continue
		}
		u := c.natsURL(v.addrs[name])
		if u == "" {
			v.Unreachable[name] = fmt.Errorf("%w: %s: not routed to %s, and no NATS address known", ErrUnreachable, name, c.server)
			continue
		}
		st, err := c.request(ctx, u, name, VerbStatus, Request{})
		if err != nil {
			v.Unreachable[name] = fmt.Errorf("%w: %s: not routed to %s, and %v", ErrUnreachable, name, c.server, err)
			continue
		}
		v.add(st, u)
	}
	return v, nil
}

// add records a status reply that came through via ("" for the cluster).
func (v *View) add(st Status, via string) {
	v.Nodes[st.Node] = st
	if via != "" {
		v.Direct[st.Node] = via
	}
	for _, m := range st.Herd {
		if !slices.Contains(v.Names, m.Name) {
			v.Names = append(v.Names, m.Name)
		}
		if m.NATS != "" {
			v.addrs[m.Name] = m.NATS
		}
	}
	if !slices.Contains(v.Names, st.Node) {
		v.Names = append(v.Names, st.Node)
	}
}

// complete reports whether every node known has replied.
func (v *View) complete() bool {
	for _, n := range v.Names {
		if _, ok := v.Nodes[n]; !ok {
			return false
		}
	}
	return true
}

// Has reports whether node is in the herd.
func (v *View) Has(node string) bool { return slices.Contains(v.Names, node) }

// natsURL turns a herd file's NATS address into a URL to dial: a host
// that means all interfaces is the host of the server this client dialled.
func (c *Client) natsURL(addr string) string {
	if addr == "" {
		return ""
	}
	if strings.Contains(addr, "://") {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if u, err := url.Parse(c.server); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		} else {
			host = "127.0.0.1"
		}
	}
	return "nats://" + net.JoinHostPort(host, port)
}

// request sends verb to node through the connection to u and decodes its
// reply; a reply with Error is an error.
func (c *Client) request(ctx context.Context, u, node, verb string, req Request) (Status, error) {
	nc, err := c.conn(u)
	if err != nil {
		return Status{}, err
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, Subject(node, verb), body)
	if err != nil {
		return Status{}, fmt.Errorf("%s %s via %s: %w", verb, node, u, err)
	}
	var st Status
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return Status{}, fmt.Errorf("%s %s: reply %q: %w", verb, node, m.Data, err)
	}
	if st.Error != "" {
		return st, fmt.Errorf("%s %s: %s", verb, node, st.Error)
	}
	return st, nil
}

// Do sends verb to node: through the cluster, or through the node's own
// NATS port when the cluster does not reach it (now or since Discover) or
// when the change closes the route its reply would take (closesRoute).
func (c *Client) Do(ctx context.Context, v *View, node, verb string, req Request) (Status, error) {
	if !v.Has(node) {
		return Status{}, fmt.Errorf("%q: %w (the herd has %s)", node, ErrUnknownNode, strings.Join(v.Names, ", "))
	}
	if err := v.Unreachable[node]; err != nil {
		return Status{}, err
	}
	if u, ok := v.Direct[node]; ok {
		return c.request(ctx, u, node, verb, req)
	}
	if c.closesRoute(node, verb, req) {
		if u := c.natsURL(v.addrs[node]); u != "" {
			if _, err := c.conn(u); err == nil {
				return c.request(ctx, u, node, verb, req)
			}
			// Not reachable that way from here: through the cluster, as
			// before a change.
		}
	}
	st, err := c.request(ctx, c.server, node, verb, req)
	if errors.Is(err, nats.ErrNoResponders) {
		// A change just made (a cut, a stop) took the node off this
		// server's routes: go to it directly.
		if u := c.natsURL(v.addrs[node]); u != "" {
			st, err = c.request(ctx, u, node, verb, req)
			if err == nil {
				v.Direct[node] = u
			}
		}
	}
	return st, err
}

// closesRoute reports whether verb with req at node closes node's routes
// to the server this client dialled, the way its reply through the
// cluster would take. The node answers before it makes the change, but
// its answer is only on its way: the change dials the server with the
// cut marked, and the server, refusing that route, closes at once every
// route the node dialled to it, with what it has not read yet (under
// load, the answer: a request that times out although the change was
// made). Through the node's own NATS port the answer takes no route.
func (c *Client) closesRoute(node, verb string, req Request) bool {
	nc, err := c.conn(c.server)
	if err != nil {
		return false
	}
	self := nc.ConnectedServerName()
	if node == self {
		return false // the answer is the server's own
	}
	return verb == VerbStop || (verb == VerbCut && slices.Contains(req.Peers, self))
}

// check returns an error naming the first node not in the herd.
func (v *View) check(nodes ...string) error {
	for _, n := range nodes {
		if !v.Has(n) {
			return fmt.Errorf("%q: %w (the herd has %s)", n, ErrUnknownNode, strings.Join(v.Names, ", "))
		}
	}
	return nil
}

// forReq is d as Request.For.
func forReq(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// Cut cuts the routes between a and b, at both ends; with d > 0 both heal
// by themselves after d.
func (c *Client) Cut(ctx context.Context, a, b string, d time.Duration) error {
	if a == b {
		return fmt.Errorf("%s: %w", a, ErrSameNode)
	}
	return c.Partition(ctx, d, []string{a}, []string{b})
}

// Heal heals the cut between a and b, at both ends.
func (c *Client) Heal(ctx context.Context, a, b string) error {
	if a == b {
		return fmt.Errorf("%s: %w", a, ErrSameNode)
	}
	v, err := c.Discover(ctx)
	if err != nil {
		return err
	}
	if err := v.check(a, b); err != nil {
		return err
	}
	return c.each(ctx, v, map[string]Request{a: {Peers: []string{b}}, b: {Peers: []string{a}}}, VerbHeal)
}

// each sends verb to every node of reqs with its request, the node of the
// server this client dialled last: a change at that server would close the
// route a later node's reply takes (a node's own change is handled by Do).
func (c *Client) each(ctx context.Context, v *View, reqs map[string]Request, verb string) error {
	var self string
	if nc, err := c.conn(c.server); err == nil {
		self = nc.ConnectedServerName()
	}
	order := slices.DeleteFunc(slices.Clone(v.Names), func(n string) bool { _, ok := reqs[n]; return !ok || n == self })
	if _, ok := reqs[self]; ok {
		order = append(order, self)
	}
	var errs []error
	for _, n := range order {
		if _, err := c.Do(ctx, v, n, verb, reqs[n]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Partition cuts every route between nodes of different groups, at both
// ends (and heals none); nodes in no group keep their routes. With d > 0
// the cuts heal by themselves after d.
func (c *Client) Partition(ctx context.Context, d time.Duration, groups ...[]string) error {
	if len(groups) < 2 {
		return fmt.Errorf("%w: a partition needs at least two groups", ErrBadRequest)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if len(g) == 0 {
			return fmt.Errorf("%w: an empty group", ErrBadRequest)
		}
		for _, n := range g {
			if seen[n] {
				return fmt.Errorf("%q in two groups: %w", n, ErrSameNode)
			}
			seen[n] = true
		}
	}
	v, err := c.Discover(ctx)
	if err != nil {
		return err
	}
	reqs := map[string]Request{}
	for i, g := range groups {
		if err := v.check(g...); err != nil {
			return err
		}
		var others []string
		for j, h := range groups {
			if j != i {
				others = append(others, h...)
			}
		}
		for _, n := range g {
			reqs[n] = Request{Peers: others, For: forReq(d)}
		}
	}
	return c.each(ctx, v, reqs, VerbCut)
}

// HealAll heals every cut of every node.
func (c *Client) HealAll(ctx context.Context) error {
	v, err := c.Discover(ctx)
	if err != nil {
		return err
	}
	reqs := map[string]Request{}
	for _, n := range v.Names {
		reqs[n] = Request{All: true}
	}
	return c.each(ctx, v, reqs, VerbHeal)
}

// Stop stops node (its client port and routes), for d if d > 0.
func (c *Client) Stop(ctx context.Context, node string, d time.Duration) (Status, error) {
	v, err := c.Discover(ctx)
	if err != nil {
		return Status{}, err
	}
	return c.Do(ctx, v, node, VerbStop, Request{For: forReq(d)})
}

// Start starts a stopped node again.
func (c *Client) Start(ctx context.Context, node string) (Status, error) {
	v, err := c.Discover(ctx)
	if err != nil {
		return Status{}, err
	}
	return c.Do(ctx, v, node, VerbStart, Request{})
}
