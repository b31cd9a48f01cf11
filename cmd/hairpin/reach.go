package main

import (
	"fmt"
	"io"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// dsliteDetector looks at the routes of this machine; a RouterOS router's routes are not here.
func dsliteDetector(cfg *config.Config) func() (bool, string, error) {
	if cfg.Backend == "routeros" {
		return nil
	}
	return reach.DetectDSLite
}

// printReach shows the classification of each family with its reason and next step.
func printReach(w io.Writer, st *daemon.Status) {
	for _, v := range st.Reachability {
		fmt.Fprintf(w, "reachability (%s): %s: %s\n", v.Family, v.String(), v.Reason)
		if v.Advice != "" {
			fmt.Fprintf(w, "  next step: %s\n", v.Advice)
		}
	}
}

// reachFinding is doctor's line for a classification.
func reachFinding(v reach.Verdict) finding {
	level := "ok"
	switch {
	case v.Class.Unreachable():
		level = "fail"
	case v.Class == reach.Unknown || v.Upstream == reach.UnknownMapped:
		level = "warn"
	}
	return finding{level, fmt.Sprintf("reachability (%s): %s: %s", v.Family, v.String(), v.Reason), v.Advice}
}
