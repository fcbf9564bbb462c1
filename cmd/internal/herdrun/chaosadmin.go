package herdrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/herdhq/herd/node/chaos"
)

// AdminHandler is the chaos admin endpoint of `herd up --chaos`, which
// `herd chaos` talks to. Every command is a POST with form values; the
// reply is one line of text, and an error is a 4xx with the reason.
//
//	POST /cut        a=A&b=B        cut the route between A and B
//	POST /heal       a=A&b=B        heal it
//	POST /partition  group=A,B,C&group=D,E   cut every link between groups
//	POST /heal-all                  heal every cut link
//	POST /stop       node=X         stop node X
//	POST /start      node=X         start node X again
//	GET  /status                    cut links, running and stopped nodes
func (h *ChaosHerd) AdminHandler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	net := h.net
	post := func(path string, fn func(r *http.Request) (string, error)) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			msg, err := fn(r)
			if err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, chaos.ErrUnknownNode) {
					code = http.StatusNotFound
				} else if errors.Is(err, ErrNodeRunning) || errors.Is(err, ErrNodeStopped) {
					code = http.StatusConflict
				}
				http.Error(w, err.Error(), code)
				h.log.Warn("chaos command failed", "command", path, "err", err)
				return
			}
			h.log.Warn("chaos: "+msg, "command", path)
			fmt.Fprintln(w, msg)
		})
	}
	post("/cut", func(r *http.Request) (string, error) {
		a, b := r.FormValue("a"), r.FormValue("b")
		return fmt.Sprintf("cut %s–%s", a, b), net.Cut(a, b)
	})
	post("/heal", func(r *http.Request) (string, error) {
		a, b := r.FormValue("a"), r.FormValue("b")
		return fmt.Sprintf("healed %s–%s", a, b), net.Heal(a, b)
	})
	post("/partition", func(r *http.Request) (string, error) {
		r.ParseForm()
		var groups [][]string
		for _, g := range r.Form["group"] {
			groups = append(groups, strings.Split(g, ","))
		}
		if len(groups) < 2 {
			return "", errors.New("partition needs at least two groups")
		}
		return fmt.Sprintf("partitioned %v", groups), net.Partition(groups...)
	})
	post("/heal-all", func(*http.Request) (string, error) {
		net.HealAll()
		return "healed every link", nil
	})
	post("/stop", func(r *http.Request) (string, error) {
		n := r.FormValue("node")
		return "stopped " + n, h.Stop(n)
	})
	post("/start", func(r *http.Request) (string, error) {
		n := r.FormValue("node")
		return "started " + n, h.Start(ctx, n)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		var cuts []string
		for _, e := range net.Cuts() {
			cuts = append(cuts, e[0]+"–"+e[1])
		}
		var running []string
		for _, n := range h.Running() {
			running = append(running, n.Name())
		}
		fmt.Fprintf(w, "running: %s\nstopped: %s\ncut: %s\n",
			strings.Join(running, " "), strings.Join(h.Stopped(), " "), strings.Join(cuts, " "))
	})
	return mux
}
