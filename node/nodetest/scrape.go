package nodetest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/node/nodetest/wait"
)

// Get fetches url and returns the status code and body.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples are a scrape of /metrics.
type Samples []Sample

// Scrape reads monitorURL/metrics, as Prometheus would.
func Scrape(t testing.TB, monitorURL string) Samples {
	t.Helper()
	code, body := Get(t, monitorURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	var out Samples
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		s := Sample{Name: line[:sp], Labels: map[string]string{}, Value: v}
		if i := strings.IndexByte(line[:sp], '{'); i >= 0 {
			s.Name = line[:i]
			for _, kv := range strings.Split(strings.TrimSuffix(line[i+1:sp], "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.Labels[k] = strings.Trim(v, `"`)
			}
		}
		out = append(out, s)
	}
	return out
}

// matching yields the samples named name whose labels include the
// label/value pairs of want.
func (ss Samples) matching(name string, want []string) func(func(Sample) bool) {
	return func(yield func(Sample) bool) {
	next:
		for _, s := range ss {
			if s.Name != name {
				continue
			}
			for i := 0; i+1 < len(want); i += 2 {
				if s.Labels[want[i]] != want[i+1] {
					continue next
				}
			}
			if !yield(s) {
				return
			}
		}
	}
}

// Value is the sum of the samples named name whose labels include the
// label/value pairs of want.
func (ss Samples) Value(name string, want ...string) float64 {
	var sum float64
	for s := range ss.matching(name, want) {
		sum += s.Value
	}
	return sum
}

// Has reports whether a sample named name with the label/value pairs of
// want is exported (whatever its value).
func (ss Samples) Has(name string, want ...string) bool {
	for range ss.matching(name, want) {
		return true
	}
	return false
}

// Want fails the test unless who's scrape exports metric with the
// label/value pairs of labels, its value (summed) in [min, max].
func (ss Samples) Want(t testing.TB, who, metric string, labels []string, min, max float64) {
	t.Helper()
	if !ss.Has(metric, labels...) {
		t.Errorf("%s does not export %s%v", who, metric, labels)
		return
	}
	if got := ss.Value(metric, labels...); got < min || got > max {
		t.Errorf("%s %s%v = %v, want %v..%v", who, metric, labels, got, min, max)
	}
}

// WaitCount scrapes monitorURL until the counter name (with the labels
// want) reaches n, and fails at once if it passes n: for a count that
// lands a moment after what it counts (anti-entropy counts a pulled record
// when its exchange ends, after storing it).
func WaitCount(t testing.TB, monitorURL, name string, n float64, want ...string) {
	t.Helper()
	wait.Check(t, wait.Timeout, fmt.Sprintf("%s%v at %s reaching %v", name, want, monitorURL, n), func() error {
		got := Scrape(t, monitorURL).Value(name, want...)
		if got > n {
			t.Fatalf("%s%v at %s = %v, want %v", name, want, monitorURL, got, n)
		}
		if got != n {
			return fmt.Errorf("%s = %v", name, got)
		}
		return nil
	})
}
