package hosttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Lab is a set of network namespaces: one per host, all linked through a
// bridge in a switch namespace. Nothing of it lives in the caller's own
// namespace, so a crashed run leaves only namespaces named after Prefix.
type Lab struct {
	Prefix string
	Hosts  []Host
}

// Host is one namespace with an address on the lab's subnet.
type Host struct {
	Name string // host name, e.g. goloman.herd
	NS   string // namespace name
	IP   string // e.g. 10.77.0.1
	port string // bridge port of this host in the switch namespace
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NewLab creates the switch and one namespace per host name, with
// addresses 10.77.0.1, .2, … in order and an /etc/hosts in each (ip netns
// exec mounts /etc/netns/<ns>/hosts over /etc/hosts) naming every host.
func NewLab(prefix string, names []string) (*Lab, error) {
	l := &Lab{Prefix: prefix}
	sw := prefix + "sw"
	if err := run("ip", "netns", "add", sw); err != nil {
		return l, err
	}
	steps := [][]string{
		{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", sw, "link", "set", "br0", "up"},
	}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1 localhost\n")
	for i, name := range names {
		h := Host{Name: name, NS: prefix + strings.SplitN(name, ".", 2)[0], IP: fmt.Sprintf("10.77.0.%d", i+1), port: fmt.Sprintf("p%d", i+1)}
		l.Hosts = append(l.Hosts, h)
		fmt.Fprintf(&hosts, "%s %s\n", h.IP, h.Name)
		steps = append(steps,
			[]string{"ip", "netns", "add", h.NS},
			[]string{"ip", "-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", h.port, "netns", sw},
			[]string{"ip", "-n", sw, "link", "set", h.port, "master", "br0", "up"},
			[]string{"ip", "-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
			[]string{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return l, err
		}
	}
	for _, h := range l.Hosts {
		dir := filepath.Join("/etc/netns", h.NS)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return l, err
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts.String()), 0o644); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Host returns the host of a name, e.g. "goloman.herd".
func (l *Lab) Host(name string) Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return Host{}
}

// Cut makes a and b unreachable from each other (both directions), as a
// broken link between two hosts would; other hosts still reach both. The
// TCP connections between them are aborted too, as a link that went down
// long enough for keepalives would: otherwise they linger until NATS's
// route pings give up, minutes later.
func (l *Lab) Cut(a, b Host) error {
	for _, s := range [][]string{
		{"ip", "-n", a.NS, "route", "add", "unreachable", b.IP + "/32"},
		{"ip", "-n", b.NS, "route", "add", "unreachable", a.IP + "/32"},
		{"ip", "netns", "exec", a.NS, "ss", "-K", "dst", b.IP},
		{"ip", "netns", "exec", b.NS, "ss", "-K", "dst", a.IP},
	} {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Heal undoes Cut.
func (l *Lab) Heal(a, b Host) error {
	err1 := run("ip", "-n", a.NS, "route", "del", "unreachable", b.IP+"/32")
	err2 := run("ip", "-n", b.NS, "route", "del", "unreachable", a.IP+"/32")
	if err1 != nil {
		return err1
	}
	return err2
}

// Close deletes every namespace and hosts file of the lab.
func (l *Lab) Close() {
	for _, h := range l.Hosts {
		run("ip", "netns", "del", h.NS)
		os.RemoveAll(filepath.Join("/etc/netns", h.NS))
	}
	run("ip", "netns", "del", l.Prefix+"sw")
}

// Sweep deletes namespaces left by earlier runs that died before their
// cleanup: those named with prefixBase whose owning process is gone.
func Sweep(prefixBase string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		ns := strings.Fields(line)
		if len(ns) == 0 || !strings.HasPrefix(ns[0], prefixBase) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(ns[0], prefixBase), "%d", &pid); err == nil && pid != os.Getpid() {
			if unix.Kill(pid, 0) == nil {
				continue // its run is still going
			}
		}
		run("ip", "netns", "del", ns[0])
		os.RemoveAll(filepath.Join("/etc/netns", ns[0]))
	}
}

// Dial connects from inside h's namespace: the socket is made while this
// goroutine's thread is in h's namespace, and keeps it after the thread
// returns to its own.
func (h Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.in(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens from inside h's namespace, as Dial dials.
func (h Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.in(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// in runs fn on a thread in h's network namespace, for the sockets it
// makes there.
func (h Host) in(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		// This thread is left in a changed namespace if anything fails,
		// so it is never unlocked: the runtime then retires it.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", h.NS))
		if err != nil {
			ch <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("enter netns %s: %w", h.NS, err)
			return
		}
		err = fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}
