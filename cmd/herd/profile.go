package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"
	"time"
)

// profileFlags let a run be profiled: a CPU profile of the whole run, a
// heap profile at exit, or net/http/pprof served live (on its own mux: the
// package's DefaultServeMux registration is a global the herd avoids).
type profileFlags struct {
	CPUProfile string `name:"cpuprofile" type:"path" help:"Write a CPU profile of the whole run to this file (go tool pprof)."`
	MemProfile string `name:"memprofile" type:"path" help:"Write a heap profile to this file at exit."`
	Pprof      string `name:"pprof" placeholder:"ADDR" help:"Serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiles taken while a benchmark runs."`
}

// start begins what the flags ask for; stop ends it and writes the files.
func (p profileFlags) start(e env) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if p.CPUProfile != "" {
		f, err := os.Create(p.CPUProfile)
		if err != nil {
			return stop, fmt.Errorf("create cpu profile: %w", err)
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("start cpu profile: %w", err)
		}
		stops = append(stops, func() {
			rpprof.StopCPUProfile()
			f.Close()
		})
	}
	if p.MemProfile != "" {
		stops = append(stops, func() {
			f, err := os.Create(p.MemProfile)
			if err != nil {
				fmt.Fprintln(e.stderr, "herd: create heap profile:", err)
				return
			}
			defer f.Close()
			runtime.GC()
			if err := rpprof.WriteHeapProfile(f); err != nil {
				fmt.Fprintln(e.stderr, "herd: write heap profile:", err)
			}
		})
	}
	if p.Pprof != "" {
		ln, err := net.Listen("tcp", p.Pprof)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("listen for pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(e.stderr, "herd: pprof server:", err)
			}
		}()
		fmt.Fprintf(e.stderr, "pprof on http://%s/debug/pprof/\n", ln.Addr())
		stops = append(stops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			srv.Close()
			<-done
		})
	}
	return stop, nil
}
