package embeddednats

import (
	"time"

	"github.com/herdhq/herd/bus/ratelog"
)

// nats-server logs one error line per refused client action (a forbidden
// publish or subscribe, a failed login, a refused route), so anyone who
// can reach the client port could otherwise write to the herd's log as
// fast as the network allows. Lines at info level and above therefore go
// through the herd's rate-limited logger (bus/ratelog); debug and trace
// lines, asked for explicitly, are not limited.
//
// A refused route is redialled about twice a second for as long as the
// misconfiguration lasts, each attempt logging the same lines with only
// numbers changed (ports, connection ids). Lines of one shape (digits
// aside) are logged repeatBurst times, then once per repeatEvery with the
// count of those left out; all lines together pass a token bucket.
const (
	logBurst    = 200 // lines at once: a start banner and a herd's route churn fit
	logRate     = 20  // lines per second, sustained
	repeatBurst = 5
	repeatEvery = 30 * time.Second
	maxRepeats  = 1024 // distinct shapes remembered; then forget them all
)

func newLineLimit(now func() time.Time) ratelog.Config {
	return ratelog.Config{
		Burst: repeatBurst, Every: repeatEvery, Kind: shape, MaxKinds: maxRepeats,
		Rate: logRate, Bucket: logBurst, Now: now,
	}
}

// shape is msg with every run of digits replaced by one '#'.
func shape(msg string) string {
	b := make([]byte, 0, len(msg))
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c >= '0' && c <= '9' {
			if len(b) == 0 || b[len(b)-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, msg[i])
	}
	return string(b)
}
