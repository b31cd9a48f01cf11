//go:build nolab

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// labCmd without the lab: router builds (make dist) leave out the demo, which needs BIND, iperf3 and a
// development machine's room, and weighs about a megabyte.
func labCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "lab",
		Short:  "Not in this build: run `make lab` from a source checkout",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this build has no lab (a router build); run `make lab` from a source checkout")
		},
	}
}
