//go:build !lab

package main

import (
	"errors"

	"github.com/hairpin-nat/hairpin/internal/cli"
)

// labCmd without the lab: the demo, which needs BIND, iperf3 and a development machine's room and weighs
// about a megabyte, is built only with the tag lab (make build, make lab and the tests' binaries), so a plain
// `go build` or `go install` and the release packages leave it out.
func labCmd() *cli.Command {
	return &cli.Command{
		Use:    "lab",
		Short:  "Not in this build: run `make lab` from a source checkout",
		Hidden: true,
		Run: func(*cli.Command) error {
			return errors.New("this build has no lab (it needs -tags lab); run `make lab` from a source checkout")
		},
	}
}
