package main

import (
	"fmt"
	"io"

	"github.com/hairpin-nat/hairpin/internal/daemon"
)

// printReach shows the classification of each family with its reason and next step.
func printReach(w io.Writer, st *daemon.Status) {
	for _, v := range st.Reachability {
		fmt.Fprintf(w, "reachability (%s): %s: %s\n", v.Family, v.String(), v.Reason)
		if v.Advice != "" {
			fmt.Fprintf(w, "  next step: %s\n", v.Advice)
		}
	}
}
