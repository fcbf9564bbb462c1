package live

import (
	"encoding/json"
	"time"
)

// Beat is a node's heartbeat, published as JSON on herd.live.beat.<node>
// every Config.Beat while anyone in the herd listens.
type Beat struct {
	Node string `json:"node"`
	Seq  uint64 `json:"seq"`
	// Time is the node's clock, Unix milliseconds (shown, never compared
	// across nodes: liveness is judged by the receiver's clock).
	Time int64 `json:"time"`
	// Bye says the node is stopping: draw it down now.
	Bye bool `json:"bye,omitempty"`
	// Peers are the servers the node has a NATS route to now.
	Peers []string `json:"peers"`
	// Gateways are the regions the node's gateways deliver to now (a herd
	// of several regions).
	Gateways []string `json:"gateways,omitempty"`
	// Cut are the peers whose routes the node cuts (herd chaos).
	Cut   []string  `json:"cut,omitempty"`
	Stats NodeStats `json:"stats"`
	// Rates are per second over the last second.
	Rates Rates `json:"rates"`
}

// Rates are NodeStats' counters per second.
type Rates struct {
	IAMAT    float64 `json:"iamat"`
	WHATSAT  float64 `json:"whatsat"`
	FloodIn  float64 `json:"floodIn"`
	FloodOut float64 `json:"floodOut"`
	Repairs  float64 `json:"repairs"`
}

// rateWindow is the span rates are averaged over.
const rateWindow = time.Second

type sample struct {
	at    time.Time
	stats NodeStats
}

// rater turns cumulative counters into rates over the last rateWindow.
// Only the beat loop uses it.
type rater struct{ samples []sample }

func (r *rater) add(at time.Time, s NodeStats) Rates {
	r.samples = append(r.samples, sample{at, s})
	// Keep the newest sample at least rateWindow old as the base.
	for len(r.samples) > 2 && at.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
	base := r.samples[0]
	dt := at.Sub(base.at).Seconds()
	if dt <= 0 {
		return Rates{}
	}
	per := func(cur, old uint64) float64 {
		if cur < old { // a counter reset (node restarted its counters)
			return 0
		}
		return float64(cur-old) / dt
	}
	return Rates{
		IAMAT:    per(s.IAMAT, base.stats.IAMAT),
		WHATSAT:  per(s.WHATSAT, base.stats.WHATSAT),
		FloodIn:  per(s.FloodIn, base.stats.FloodIn),
		FloodOut: per(s.FloodOut, base.stats.FloodOut),
		Repairs:  per(s.Repairs, base.stats.Repairs),
	}
}

// beatLoop publishes this node's heartbeat, and turns the flood tap on
// and off and publishes its summaries, while anyone listens.
func (l *Live) beatLoop() {
	defer l.wg.Done()
	beat := time.NewTicker(l.cfg.Beat)
	defer beat.Stop()
	tick := time.NewTicker(l.cfg.Tick)
	defer tick.Stop()
	var (
		r   rater
		seq uint64
	)
	l.publishBeat(&r, &seq) // a new node shows up at once
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-beat.C:
			l.publishBeat(&r, &seq)
		case <-tick.C:
			l.tapTick()
		}
	}
}

func (l *Live) publishBeat(r *rater, seq *uint64) {
	now := time.Now()
	stats := l.cfg.Stats()
	rates := r.add(now, stats) // keep the window filled even when unwatched
	subject := BeatSubject(l.cfg.Name)
	if !l.routes.HasInterest(subject) {
		return
	}
	*seq++
	peers := l.routes.Peers()
	if peers == nil {
		peers = []string{}
	}
	var cut []string
	if l.cfg.Cuts != nil {
		cut = l.cfg.Cuts()
	}
	l.publish(subject, Beat{
		Node: l.cfg.Name, Seq: *seq, Time: now.UnixMilli(),
		Peers: peers, Gateways: l.cfg.Gateways(), Cut: cut, Stats: stats, Rates: rates,
	})
}

// publishBye tells viewers this node is going away.
func (l *Live) publishBye() {
	l.publish(BeatSubject(l.cfg.Name), Beat{
		Node: l.cfg.Name, Time: time.Now().UnixMilli(), Bye: true, Peers: []string{},
	})
	l.conn.Flush() // best effort: the connection closes next
}

// tapTick follows the herd's interest in this node's flood and publishes
// what the tap saw since the last tick.
func (l *Live) tapTick() {
	subject := FloodSubject(l.cfg.Name)
	if !l.routes.HasInterest(subject) {
		l.tap.stop()
		return
	}
	if err := l.tap.start(l.conn); err != nil {
		l.cfg.Logger.Warn("live view: tap the flood", "err", err)
		return
	}
	if f, ok := l.tap.take(time.Now()); ok {
		l.publish(subject, f)
	}
}

func (l *Live) publish(subject string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		l.cfg.Logger.Warn("live view: encode", "subject", subject, "err", err)
		return
	}
	if err := l.conn.Publish(subject, data); err != nil {
		l.cfg.Logger.Debug("live view: publish", "subject", subject, "err", err)
	}
}
