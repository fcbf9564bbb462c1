package live

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var staticFiles embed.FS

// writeTimeout bounds one write to a browser: a stalled one is dropped.
const writeTimeout = 2 * time.Second

// viewer is one connected browser: frames queue in ch; gone is closed
// when the view drops it for falling behind.
type viewer struct {
	ch     chan []byte
	gone   chan struct{}
	misses int // frames dropped in a row; guarded by view.mu
}

var errTooManyViewers = errors.New("too many viewers")

func (v *view) addViewer() (*viewer, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.viewers) >= v.cfg.MaxViewers {
		return nil, errTooManyViewers
	}
	vw := &viewer{ch: make(chan []byte, v.cfg.ViewerBuffer), gone: make(chan struct{})}
	v.viewers[vw] = struct{}{}
	return vw, nil
}

func (v *view) removeViewer(vw *viewer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.viewers, vw)
}

func (v *view) viewerCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.viewers)
}

// broadcast queues data for every viewer without waiting. A viewer whose
// buffer stayed full for a whole buffer's worth of frames is dropped.
func (v *view) broadcast(data []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for vw := range v.viewers {
		select {
		case vw.ch <- data:
			vw.misses = 0
		default:
			vw.misses++
			if vw.misses == v.cfg.ViewerBuffer {
				close(vw.gone)
				delete(v.viewers, vw)
			}
		}
	}
}

// viewLoop listens while browsers are connected and sends them a frame
// every tick.
func (l *Live) viewLoop() {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case now := <-tick.C:
			if err := l.view.follow(l.conn, now); err != nil {
				l.cfg.Logger.Warn("live view: listen to the herd", "err", err)
				continue
			}
			f, ok := l.view.frame(now)
			if !ok {
				continue
			}
			data, err := json.Marshal(f)
			if err != nil {
				l.cfg.Logger.Warn("live view: encode frame", "err", err)
				continue
			}
			l.view.broadcast(sseEvent("frame", data))
		}
	}
}

// sseEvent is one server-sent event (data has no newline: it is JSON).
func sseEvent(name string, data []byte) []byte {
	b := make([]byte, 0, len(name)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// Handler serves the page and its event stream:
//
//	GET /                 the page
//	GET /live/static/...  its scripts, style and world outline (embedded)
//	GET /live/events      server-sent events: one "hello", then a "frame" per tick
//
// Mount it at "/" of the monitor server's mux; more specific patterns
// (/metrics, /healthz, ...) keep their handlers.
func (l *Live) Handler() http.Handler {
	static, _ := fs.Sub(staticFiles, "static") // the directory is embedded: no error
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	files := http.StripPrefix("/live/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /live/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /live/events", l.serveEvents)
	return mux
}

func (l *Live) serveEvents(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	if l.closed || !l.started {
		l.mu.Unlock()
		http.Error(w, "live view not running", http.StatusServiceUnavailable)
		return
	}
	l.wg.Add(1) // under mu: Close cannot be waiting yet
	l.mu.Unlock()
	defer l.wg.Done()

	vw, err := l.view.addViewer()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer l.view.removeViewer(vw)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	hello, _ := json.Marshal(l.view.hello()) // plain strings and ints: no error
	send := func(data []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(append([]byte("retry: 1000\n\n"), sseEvent("hello", hello)...)) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-l.ctx.Done():
			return
		case <-vw.gone:
			return
		case data := <-vw.ch:
			if !send(data) {
				return
			}
		}
	}
}
