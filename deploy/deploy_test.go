package deploy_test

import (
	"bytes"
	"testing"

	"github.com/herdhq/herd/deploy"
	"github.com/herdhq/herd/deploy/herdfile"
)

func TestDefaultHerdFile(t *testing.T) {
	a := deploy.DefaultHerdFile()
	if _, err := herdfile.Parse(a); err != nil {
		t.Fatalf("built-in herd file does not parse: %v", err)
	}
	orig := bytes.Clone(a)
	a[0] ^= 0xff
	if b := deploy.DefaultHerdFile(); !bytes.Equal(b, orig) {
		t.Error("modifying a returned copy changed the built-in file")
	}
}
