package ddns_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
)

const testUA = ddnstest.UserAgent

// The engine tests here and the provider tests beside each provider share internal/ddns/ddnstest.
type (
	fakeClock = ddnstest.FakeClock
	logBuf    = ddnstest.LogBuf
)

func newFakeClock() *fakeClock { return ddnstest.NewFakeClock() }

func newLogger(t *testing.T) (*slog.Logger, *logBuf) { return ddnstest.NewLogger(t) }

func assertNoSecret(t *testing.T, lb *logBuf, e *ddns.Engine, secrets ...string) {
	t.Helper()
	ddnstest.AssertNoSecret(t, lb, e, secrets...)
}

func writeSecret(t *testing.T, value string) string { return ddnstest.WriteSecret(t, value) }

func runEngine(t *testing.T, e *ddns.Engine) context.CancelFunc { return ddnstest.RunEngine(t, e) }
