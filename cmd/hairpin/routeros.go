package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func applyRouterOS(_ *cobra.Command, _ *config.Config) error {
	return errors.New("the routeros backend is not available in this build")
}

func downRouterOS(_ *cobra.Command, _ *config.Config) error {
	return errors.New("the routeros backend is not available in this build")
}
