package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// TestRouterMemory: the daemon's GC defaults for a small router, and GOGC/GOMEMLIMIT in the environment win.
// Not parallel: the GC settings are the process's.
func TestRouterMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(env); ok {
			defer os.Setenv(env, v)
		}
		os.Unsetenv(env)
	}
	routerMemory()
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 50 || limit != 32<<20 {
		t.Errorf("defaults: GOGC %d, GOMEMLIMIT %d; want 50 and 32 MiB", gc, limit)
	}

	// Set in the environment: the runtime read them at start, and routerMemory leaves them alone.
	t.Setenv("GOGC", "200")
	t.Setenv("GOMEMLIMIT", "100MiB")
	routerMemory()
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 100 || limit != math.MaxInt64 {
		t.Errorf("with GOGC and GOMEMLIMIT set: GOGC %d, GOMEMLIMIT %d; want both untouched (100, no limit)", gc, limit)
	}
}
