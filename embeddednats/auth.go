package embeddednats

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// Accounts and identities of every herd server. They are the same on all
// nodes: routes carry each account's traffic by name, so an observer in
// Account on one node sees what a node publishes in Account on another.
const (
	// Account holds the nodes' own connections and the observers.
	Account = "HERD"
	// SystemAccount is nats-server's system account ($SYS): server pings,
	// route and connection reports (nats server list / report routes).
	SystemAccount = "$SYS"
	// DefaultSystemUser is the system user's name unless Config says.
	DefaultSystemUser = "sys"
	// observerUser is the identity of every client connection without
	// credentials (the observer, no_auth_user); its password is known to
	// nobody.
	observerUser = "herd-observer"
)

// Secret is a password or key. It prints, formats and logs as [REDACTED]
// so that a Config dumped with %v or slog never shows it; use string(s)
// where the value itself is needed.
type Secret string

const redacted = "[REDACTED]"

// String returns [REDACTED], or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// nodeIdentity is the in-process connection's credential: an nkey user
// generated per Server, held only in memory and never logged. nkeys avoid
// a password that nats-server would keep in plain text and warn about.
type nodeIdentity struct {
	kp  nkeys.KeyPair
	pub string
}

func newNodeIdentity() (*nodeIdentity, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("generate node credential: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("generate node credential: %w", err)
	}
	return &nodeIdentity{kp: kp, pub: pub}, nil
}

// plainIsObserver reports whether the observer is the one user of o with
// a plain-text password (Config.Options may add others).
func plainIsObserver(o *server.Options) bool {
	if o.Password != "" && !bcryptHash(o.Password) {
		return false
	}
	for _, u := range o.Users {
		if u.Username != observerUser && !bcryptHash(u.Password) {
			return false
		}
	}
	return true
}

// bcryptHash reports whether pw is a bcrypt hash.
func bcryptHash(pw string) bool {
	_, err := bcrypt.Cost([]byte(pw))
	return err == nil
}

// randomPassword is 32 random bytes, hex-encoded.
func randomPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate observer password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sign answers the server's nonce for the in-process connection.
func (id *nodeIdentity) sign(nonce []byte) ([]byte, error) { return id.kp.Sign(nonce) }

// hashPassword bcrypts a password for the server's user list, so the
// server holds no plain-text password (and does not warn about one).
func hashPassword(pw string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// applyAuth adds the herd's accounts and users to o: the node's nkey with
// full rights in Account, the observer (no_auth_user, the identity of
// every connection without credentials) with c's observer permissions in
// Account, the system user if c has a system password, the chaos
// service's nkey in SystemAccount, and route credentials and TLS.
func (c Config) applyAuth(o *server.Options, node, system *nodeIdentity) error {
	herd := server.NewAccount(Account)
	sys := server.NewAccount(SystemAccount)
	o.Accounts = []*server.Account{herd, sys}
	o.SystemAccount = SystemAccount

	if node != nil {
		o.Nkeys = []*server.NkeyUser{{Nkey: node.pub, Account: herd}}
	}
	if system != nil {
		o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: system.pub, Account: sys})
	}
	// The observer is a user with a random password held only in this
	// process's memory, reached as no_auth_user. It is a user, not an nkey:
	// a reload (SetPeers, BlockRoutes) checks every client again, and
	// gives one whose CONNECT has not arrived yet the no_auth_user's
	// credentials in its connect options, which its CONNECT then fills in.
	// A user's name and password are overwritten by the CONNECT's; an
	// nkey would stay, and make the system user who connected at that
	// moment an observer. The password is plain text (a bcrypt hash does
	// not work as no_auth_user): nats-server's warning about it is
	// dropped (logger.go).
	obsPass, err := randomPassword()
	if err != nil {
		return err
	}
	o.Users = append(o.Users, &server.User{Username: observerUser, Password: obsPass, Account: herd, Permissions: c.observerPermissions()})
	o.NoAuthUser = observerUser
	if c.SystemPassword != "" {
		// The hash lives only in this process's memory, next to the
		// password itself: a higher cost would protect nothing and costs
		// every system login (seconds under the race detector).
		sysPass, err := hashPassword(string(c.SystemPassword), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("hash system password: %w", err)
		}
		o.Users = append(o.Users, &server.User{Username: c.SystemUser, Password: sysPass, Account: sys})
	}

	if c.RoutePassword != "" {
		// Plain text: nats-server also dials gossip-learned routes with
		// these, and compares the ones it receives in constant time.
		o.Cluster.Username, o.Cluster.Password = c.RouteUser, string(c.RoutePassword)
	}
	if c.RouteTLS != nil {
		o.Cluster.TLSConfig = c.RouteTLS.Clone()
	}
	return nil
}

// observerPermissions builds fresh permissions (nats-server keeps them).
// An empty publish allow list would allow everything, so it becomes a deny
// of everything instead.
func (c Config) observerPermissions() *server.Permissions {
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: clone(c.ObserverPublish), Deny: clone(c.ObserverDenyPublish)},
		Subscribe: &server.SubjectPermission{Allow: clone(c.ObserverSubscribe), Deny: c.observerSubscribeDeny()},
	}
	if len(p.Publish.Allow) == 0 {
		p.Publish = &server.SubjectPermission{Deny: []string{">"}}
	}
	if len(p.Subscribe.Allow) == 0 {
		p.Subscribe.Deny = append(p.Subscribe.Deny, ">")
	}
	return p
}

func clone(s []string) []string { return append([]string(nil), s...) }
