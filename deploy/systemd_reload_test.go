package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/deploy/hosttest"
)

// bootSystemd is what the private systemd's first process does, in new
// PID, mount, network, UTS, IPC and cgroup namespaces (unshare), before it
// becomes systemd, PID 1 of them. Nothing it or systemd does may reach
// this machine, which other work shares: /run, /tmp and /var/tmp are fresh
// tmpfs (systemd-tmpfiles would empty the real /tmp), /etc and /var are
// overlays whose changes stay in memory, and every unit that would touch
// the kernel or devices for the whole machine (sysctl, modules, udev,
// binfmt, clock, remounts, tmpfiles) is masked: only the journal and the
// herd's unit run. Then the test's files are installed as the deploy
// guide says, herd at /usr/local/bin/herd. Last, the namespace's mounts
// are made shared among themselves (never with this machine's: unshare
// cut them off), as on a booted system: systemd sets up each unit's
// credentials in a mount namespace of its own and relies on propagation
// to see them. $1 is the staging directory:
// bin/herd, an etc/ tree to copy over /etc, hosts lines for /etc/hosts.
const bootSystemd = `set -e
mount -t tmpfs -o mode=0755 herd-run /run
mkdir -p /run/herdtest
cp -a "$1" /run/herdtest/stage
mount -t tmpfs -o mode=1777 herd-tmp /tmp
mount -t tmpfs -o mode=1777 herd-vartmp /var/tmp
mkdir -p /run/systemd /run/herdtest/etc/up /run/herdtest/etc/work /run/herdtest/var/up /run/herdtest/var/work /run/herdtest/bin
mount -t overlay herd-etc -o lowerdir=/etc,upperdir=/run/herdtest/etc/up,workdir=/run/herdtest/etc/work /etc
mount -t overlay herd-var -o lowerdir=/var,upperdir=/run/herdtest/var/up,workdir=/run/herdtest/var/work /var
for d in /lib/systemd/system /etc/systemd/system; do
  for u in "$d"/*.wants/*; do
    [ -e "$u" ] || [ -L "$u" ] || continue
    n=$(basename "$u")
    case "$n" in systemd-journald.service|systemd-journald.socket|systemd-journald-dev-log.socket) continue;; esac
    ln -sf /dev/null "/etc/systemd/system/$n"
  done
done
for n in systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service systemd-timesyncd.service \
  systemd-networkd.service systemd-resolved.service systemd-logind.service systemd-hostnamed.service \
  systemd-remount-fs.service systemd-tmpfiles-clean.timer systemd-tmpfiles-clean.service \
  systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-sysctl.service \
  systemd-modules-load.service systemd-binfmt.service getty.target console-getty.service; do
  ln -sf /dev/null "/etc/systemd/system/$n"
done
cp -a /run/herdtest/stage/etc/. /etc/
cat /run/herdtest/stage/hosts >> /etc/hosts
install -m 0755 /run/herdtest/stage/bin/herd /run/herdtest/bin/herd
mount --bind /run/herdtest/bin /usr/local/bin
ip link set lo up
mount --make-rshared /
exec /usr/lib/systemd/systemd --system --unit=basic.target`

// privateSystemd is a systemd running as PID 1 of its own namespaces.
type privateSystemd struct {
	t      *testing.T
	cmd    *exec.Cmd     // unshare
	exited chan struct{} // closed when unshare returned
	pid    int           // systemd, as this process sees it
	out    string        // file of the boot script's and systemd's console
}

// console is what the boot script and systemd printed so far.
func (s *privateSystemd) console() string {
	b, _ := os.ReadFile(s.out)
	return string(b)
}

// requireSystemd skips (or, with HERD_REQUIRE_SYSTEMD=1, fails) where no
// systemd can be started: it needs root, systemd and util-linux. PID 1
// need not be systemd: the test starts its own in new namespaces.
func requireSystemd(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root (namespaces, mounts)"
	case !exists("/usr/lib/systemd/systemd"):
		why = "needs systemd (/usr/lib/systemd/systemd)"
	}
	for _, tool := range []string{"unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); why == "" && err != nil {
			why = "needs " + tool
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("HERD_REQUIRE_SYSTEMD") == "1" {
		t.Fatalf("systemd reload test %s, and HERD_REQUIRE_SYSTEMD=1", why)
	}
	t.Skipf("systemd reload test %s (CI installs systemd and sets HERD_REQUIRE_SYSTEMD=1)", why)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// startSystemd boots a private systemd over the staging directory and
// waits until it runs.
func startSystemd(t *testing.T, stage string) *privateSystemd {
	t.Helper()
	s := &privateSystemd{t: t, exited: make(chan struct{}), out: filepath.Join(t.TempDir(), "console")}
	console, err := os.Create(s.out)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close() // the child has its own copy
	s.cmd = exec.Command("unshare", "--pid", "--fork", "--mount", "--mount-proc", "--net", "--uts", "--ipc", "--cgroup",
		"--propagation", "private", "sh", "-c", bootSystemd, "boot-systemd", stage)
	s.cmd.Stdout, s.cmd.Stderr = console, console
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if s.pid > 0 {
			// PID 1 of a namespace: killing it ends every process in it.
			exec.Command("kill", "-KILL", strconv.Itoa(s.pid)).Run()
		}
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("systemd console:\n%.4000s", s.console())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.cmd.Process.Pid, s.cmd.Process.Pid)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				s.pid, _ = strconv.Atoi(f[0])
			}
		}
		if s.pid > 0 {
			if out, _ := s.ctl("is-system-running"); strings.HasPrefix(out, "running") || strings.HasPrefix(out, "degraded") {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("private systemd exited:\n%s", s.console())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("private systemd did not come up:\n%s", s.console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs a command inside the systemd's namespaces.
func (s *privateSystemd) run(name string, args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(s.pid), "-m", "-p", "-n", "-u", "-i", "-C", name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *privateSystemd) ctl(args ...string) (string, error) {
	return s.run("systemctl", append([]string{"--no-pager"}, args...)...)
}

// journal is the unit's journal, messages only.
func (s *privateSystemd) journal(unit string) string {
	out, _ := s.run("journalctl", "--no-pager", "-o", "cat", "-u", unit)
	return out
}

func (s *privateSystemd) waitJournal(unit, want string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.journal(unit), want) {
		if time.Now().After(deadline) {
			st, _ := s.ctl("status", unit)
			s.t.Fatalf("%s never logged %q\n%s\n%s", unit, want, st, s.journal(unit))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The shipped unit, byte for byte, under a real systemd: the node starts
// from the shipped hosts file with its TLS files handed over as
// credentials; `systemctl reload` with a good file reloads it; with a
// broken one the reload fails, naming the field, and the node keeps
// running untouched.
func TestSystemdUnit_reloadChecksTheFile(t *testing.T) {
	requireSystemd(t)
	stage := t.TempDir()
	install := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(stage, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	build := exec.Command("go", "build", "-o", filepath.Join(stage, "bin", "herd"), "../cmd/herd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build herd: %v\n%s", err, out)
	}
	unit, hostsFile := read("systemd/herd-node@.service"), read("hosts/herd.yaml")
	install("etc/systemd/system/herd-node@.service", unit, 0o644)
	install("etc/herd/herd.yaml", hostsFile, 0o644)
	install("etc/herd/herd.env", []byte("HERD_ROUTE_PASSWORD=route-secret-1\nHERD_SYSTEM_PASSWORD=sys-secret-1\n"), 0o600)
	pki := filepath.Join(stage, "etc", "herd", "tls")
	if err := os.MkdirAll(pki, 0o755); err != nil {
		t.Fatal(err)
	}
	// Goloman runs here; the other hosts are addresses where nobody
	// listens (their nodes are elsewhere and down).
	hosts := map[string]hosttest.Host{}
	var hostsLines strings.Builder
	for i, n := range []string{"Goloman", "Hands", "Holiday", "Welsh", "Wilkes"} {
		h, ip := strings.ToLower(n)+".herd", fmt.Sprintf("127.0.0.%d", i+1)
		hosts[n] = hosttest.Host{Name: h, IP: ip}
		fmt.Fprintf(&hostsLines, "%s %s\n", ip, h)
	}
	if err := hosttest.WritePKI(pki, hosts); err != nil {
		t.Fatal(err)
	}
	install("hosts", []byte(hostsLines.String()), 0o644)

	sd := startSystemd(t, stage)
	const u = "herd-node@Goloman.service"
	if out, err := sd.ctl("start", u); err != nil {
		t.Fatalf("systemctl start: %v\n%s\n%s", err, out, sd.journal(u))
	}
	sd.waitJournal(u, "node Goloman up")
	sd.waitJournal(u, "security: observers may watch herd.> without credentials; routes: user herd, TLS")
	pid := func() string {
		out, _ := sd.ctl("show", "-p", "MainPID", "--value", u)
		return strings.TrimSpace(out)
	}
	before := pid()

	if out, err := sd.ctl("reload", u); err != nil {
		t.Fatalf("reload with the good file: %v\n%s\n%s", err, out, sd.journal(u))
	}
	sd.waitJournal(u, "node Goloman reloaded the herd file: neighbors [Hands Holiday Wilkes]")

	// A typo: Goloman lists a neighbor that does not exist.
	bad := bytes.Replace(hostsFile, []byte("neighbors: [Hands, Holiday, Wilkes]"), []byte("neighbors: [Hands, Holliday, Wilkes]"), 1)
	if bytes.Equal(bad, hostsFile) {
		t.Fatal("could not break the herd file")
	}
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(sd.pid), "-m", "-p", "-n", "-u", "-i", "-C", "sh", "-c", "cat > /etc/herd/herd.yaml")
	cmd.Stdin = bytes.NewReader(bad)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write bad file: %v %s", err, out)
	}
	out, err := sd.ctl("reload", u)
	if err == nil {
		t.Fatalf("systemctl reload with a broken herd file exited 0:\n%s", out)
	}
	journal := sd.journal(u)
	if !strings.Contains(journal, "nodes[0].neighbors[1]") || !strings.Contains(journal, "Holliday") {
		t.Errorf("the journal does not name the broken field:\n%s", journal)
	}
	if n := strings.Count(journal, "reloaded the herd file"); n != 1 {
		t.Errorf("%d reloads in the journal, want only the good one", n)
	}
	if active, _ := sd.ctl("is-active", u); strings.TrimSpace(active) != "active" || pid() != before {
		t.Errorf("after the failed reload: %s, pid %s (was %s); want the node running untouched", active, pid(), before)
	}
	t.Logf("systemctl reload with the broken file: %v\n%s", err, out)
}
