// Package deploy holds the herd's topology files and what it takes to run
// the herd on several hosts. The default five-node herd is built in, so
// `herd up` runs a meaningful herd from a fresh checkout with no file.
package deploy

import (
	_ "embed"
	"slices"
)

//go:embed herd.yaml
var defaultHerdFile []byte

//go:embed regions.yaml
var regionsHerdFile []byte

// DefaultHerdFile returns the bytes of the built-in herd file (herd.yaml):
// the five-node herd of the design on 127.0.0.1. Parse it with
// herdfile.Parse. The slice is a fresh copy; callers may modify it.
func DefaultHerdFile() []byte {
	return slices.Clone(defaultHerdFile)
}

// RegionsHerdFile returns the bytes of regions.yaml: three regions of three
// nodes each on 127.0.0.1, joined by NATS gateways (README "Regions"). The
// slice is a fresh copy.
func RegionsHerdFile() []byte {
	return slices.Clone(regionsHerdFile)
}
