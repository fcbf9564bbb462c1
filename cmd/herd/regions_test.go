package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy"
)

// herd up --config deploy/regions.yaml, the shipped file with free ports
// in place of its own: nine nodes in three regions come up, say so with
// their regions and gateways, an IAMAT in eu is answered by WHATSAT in us
// and ap with the origin's AT line, and SIGTERM stops the herd quietly.
func TestHerdUp_Regions(t *testing.T) {
	src := string(deploy.RegionsHerdFile())
	free := freeAddrs(t, len(portRE.FindAllString(src, -1)))
	data := portRE.ReplaceAllStringFunc(src, func(string) string {
		a := free[0]
		free = free[1:]
		return a
	})
	file := filepath.Join(t.TempDir(), "regions.yaml")
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "up", "--config", file)
	p.waitLine(t, regexp.MustCompile(`is up: 9 nodes in 3 regions \(eu, us, ap\), clusters and gateways formed`))
	row := regexp.MustCompile(`^(\w+)\s+(127\.0\.0\.1:\d+)\s+nats://\S+\s+http://\S+\s+(eu|us|ap)\s+127\.0\.0\.1:\d+\s`)
	addrs := map[string]string{}
	for len(addrs) < 9 {
		m := p.waitLine(t, row)
		addrs[m[1]] = m[2]
	}
	at := talk(t, addrs["Berlin"], "IAMAT from-berlin +52.52+13.40 1621464827.5")
	if !strings.HasPrefix(at, "AT Berlin ") {
		t.Fatalf("IAMAT at Berlin: %q", at)
	}
	for _, name := range []string{"Denver", "Sydney", "Tokyo"} {
		if out := waitWhatsat(t, addrs[name], "from-berlin"); !strings.HasPrefix(out, at) {
			t.Fatalf("WHATSAT at %s starts %q, want Berlin's line %q", name, firstLine(out), at)
		}
	}
	talk(t, addrs["Sydney"], "IAMAT from-sydney -33.87+151.21 1621464828")
	waitWhatsat(t, addrs["Paris"], "from-sydney")
	p.stopQuietly(t)
}
