package main

import (
	"errors"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
)

type backendT = backend.Backend

func routerosDaemon(_ *config.Config, _ *slog.Logger) (backendT, daemon.Observer, error) {
	return nil, nil, errors.New("the routeros backend is not wired into the daemon yet")
}
