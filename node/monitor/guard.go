package monitor

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// A web page open in a browser on the node's host may send requests to
// the monitor port: to 127.0.0.1 directly, or to a name of its own that it
// re-points at 127.0.0.1 (DNS rebinding). Without CORS headers the browser
// keeps the answer from the page in the first case; in the second the
// page and the port share an origin as far as the browser knows, and only
// the Host header, which carries the page's name, tells them apart. So
// the monitor answers only requests whose Host is an address of the port
// itself, and never allows other origins to read its answers.

// hostPolicy decides which Host headers the monitor answers.
type hostPolicy struct {
	names map[string]bool // lower-cased host names and canonical IPs
	// anyIP accepts every IP literal: the port listens on all interfaces,
	// so any of the host's addresses may be in the Host header, and a
	// rebinding page always carries a name.
	anyIP bool
	// want describes the accepted hosts, for the refusal's body.
	want string
}

// newHostPolicy accepts the configured address's host, the bound one,
// extra names, localhost and loopback IPs.
func newHostPolicy(configured string, bound net.Addr, extra []string) *hostPolicy {
	p := &hostPolicy{names: map[string]bool{"localhost": true}}
	var shown []string
	add := func(h string) {
		if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); h == "" || err == nil && ip.IsUnspecified() {
			return // all interfaces: anyIP covers it
		}
		h = canonicalHost(h)
		if !p.names[h] {
			p.names[h] = true
			shown = append(shown, h)
		}
	}
	if h, _, err := net.SplitHostPort(configured); err == nil {
		add(h)
	}
	if a, ok := bound.(*net.TCPAddr); ok && a != nil {
		if a.IP.IsUnspecified() {
			p.anyIP = true
		} else {
			add(a.IP.String())
		}
	}
	for _, h := range extra {
		add(h)
	}
	p.want = strings.Join(append(shown, "localhost", "a loopback IP"), ", ")
	if p.anyIP {
		p.want += ", or any IP address"
	}
	return p
}

// canonicalHost lower-cases a name and writes an IP in netip form.
func canonicalHost(h string) string {
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// allows reports whether the Host header host (with or without a port) is
// one the monitor answers.
func (p *hostPolicy) allows(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "" {
		return false
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return p.anyIP || ip.Unmap().IsLoopback() || p.names[ip.Unmap().String()]
	}
	return p.names[canonicalHost(h)]
}

// guard answers 421 Misdirected Request to a Host the policy refuses and
// strips the wildcard CORS header nats-server's handlers set.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.hosts.Load()
		if p == nil || !p.allows(r.Host) {
			want := "this monitor port's address"
			if p != nil {
				want = p.want
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintf(w, "monitor: refused Host %q: this port answers only for %s (DNS rebinding protection)\n", r.Host, want)
			return
		}
		next.ServeHTTP(&noCORS{ResponseWriter: w}, r)
	})
}

// noCORS drops Access-Control-Allow-Origin before the header is sent.
type noCORS struct {
	http.ResponseWriter
	wrote bool
}

func (w *noCORS) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Del("Access-Control-Allow-Origin")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noCORS) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends the header (without the CORS one) and what is buffered.
func (w *noCORS) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush for the live view's event stream).
func (w *noCORS) Unwrap() http.ResponseWriter { return w.ResponseWriter }
