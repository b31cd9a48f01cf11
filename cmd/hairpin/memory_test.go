package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
)

// TestRouterMemory: the daemon's GC and GOMAXPROCS defaults for a small router, and GOGC/GOMEMLIMIT/GOMAXPROCS in
// the environment win.
// Not parallel: the GC settings are the process's.
func TestRouterMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(maxProcs + 2))
	for _, env := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(env); ok {
			defer os.Setenv(env, v)
		}
		os.Unsetenv(env)
	}
	routerMemory()
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 50 || limit != 32<<20 {
		t.Errorf("defaults: GOGC %d, GOMEMLIMIT %d; want 50 and 32 MiB", gc, limit)
	}
	if n := runtime.GOMAXPROCS(maxProcs + 2); n != maxProcs {
		t.Errorf("default GOMAXPROCS on a machine of %d: %d; want %d", maxProcs+2, n, maxProcs)
	}

	// Set in the environment: the runtime read them at start, and routerMemory leaves them alone.
	t.Setenv("GOGC", "200")
	t.Setenv("GOMEMLIMIT", "100MiB")
	t.Setenv("GOMAXPROCS", strconv.Itoa(maxProcs+2))
	routerMemory()
	if gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); gc != 100 || limit != math.MaxInt64 {
		t.Errorf("with GOGC and GOMEMLIMIT set: GOGC %d, GOMEMLIMIT %d; want both untouched (100, no limit)", gc, limit)
	}
	if n := runtime.GOMAXPROCS(0); n != maxProcs+2 {
		t.Errorf("with GOMAXPROCS set: %d; want it untouched (%d)", n, maxProcs+2)
	}
}
