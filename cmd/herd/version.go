package main

import (
	"fmt"
	"runtime/debug"
)

type versionCmd struct{}

func (versionCmd) Run(e env) error {
	version, vcs := "(devel)", ""
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				vcs = " " + s.Value
			}
		}
	}
	fmt.Fprintf(e.stdout, "herd %s%s (%s)\n", version, vcs, goVersion)
	return nil
}
