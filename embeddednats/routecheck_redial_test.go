package embeddednats

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// idRoute is a dialling route that names its server in CONNECT.
type idRoute struct {
	fakeRoute
	id string
}

var _ server.ClientAuthentication = idRoute{}

func (r idRoute) GetOpts() *server.ClientOpts {
	o := r.fakeRoute.GetOpts()
	o.Name = r.id
	return o
}

// A node that let a route in from a peer knows that peer's redial without
// credentials for what it is (nats-server redials a route it accepted from
// the URL its INFO gave), though it has no route to the peer left and
// never reloaded: not a stranger's, logged at error level and held.
func TestRouteCheck_redialOfNodeLetIn(t *testing.T) {
	cfg := testConfig(t, "A")
	withRouteAuth("right-horse-battery")(&cfg)
	rc := newRouteCheck(cfg, slog.New(slog.DiscardHandler), nil, newPeerSet(nil))
	const bID = "NBSERVERIDOFB"
	if !rc.Check(idRoute{fakeRoute{"B@herd", "right-horse-battery", "127.0.0.1:5000", nil}, bID}) {
		t.Fatal("B's route with the password refused")
	}
	ps, _ := rc.current()
	for _, tt := range []struct {
		id, wantName, wantCause string
	}{
		{bID, "B", causeRedialed},
		{"NSOMEONEELSE", "", "no-name"},
	} {
		name, why := rc.judge(idRoute{fakeRoute{"", "", "127.0.0.1:5001", nil}, tt.id}, ps)
		if why == nil || why.cause != tt.wantCause || name != tt.wantName {
			t.Errorf("route without credentials from %s: node %q, refusal %+v, want node %q, cause %q", tt.id, name, why, tt.wantName, tt.wantCause)
		}
	}
}
