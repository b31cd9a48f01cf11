//go:build nolab

package main

import (
	"errors"

	"github.com/hairpin-nat/hairpin/internal/cli"
)

// labCmd without the lab: router builds (make dist) leave out the demo, which needs BIND, iperf3 and a
// development machine's room, and weighs about a megabyte.
func labCmd() *cli.Command {
	return &cli.Command{
		Use:    "lab",
		Short:  "Not in this build: run `make lab` from a source checkout",
		Hidden: true,
		Run: func(*cli.Command) error {
			return errors.New("this build has no lab (a router build); run `make lab` from a source checkout")
		},
	}
}
