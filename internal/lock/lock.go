// Package lock holds Mutex, a sync.Mutex whose Lock and Unlock are calls rather than inlined code.
package lock

import "sync"

// Mutex is a sync.Mutex for structs locked from many places. sync.Mutex's Lock and Unlock are inlined at every
// call site (an atomic compare-and-swap or add, and the call to the slow path); a package that locks from a
// hundred places pays ~10 KB of the mipsle router build for it. Here each is one call, a cost that does not
// matter on paths that take a lock. The zero value is an unlocked mutex; like sync.Mutex it must not be copied
// after first use (go vet's copylocks sees it).
type Mutex struct{ mu sync.Mutex }

// Lock locks m, waiting until it is free.
//
//go:noinline
func (m *Mutex) Lock() { m.mu.Lock() }

// Unlock unlocks m; it is a run-time error if m is not locked.
//
//go:noinline
func (m *Mutex) Unlock() { m.mu.Unlock() }
