package lock

import (
	"sync"
	"testing"
)

// TestMutexExcludes counts from many goroutines under the lock: without mutual exclusion the count comes out
// short (and -race reports the data race).
func TestMutexExcludes(t *testing.T) {
	t.Parallel()
	var (
		m  Mutex
		n  int
		wg sync.WaitGroup
	)
	const goroutines, each = 8, 1000
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				m.Lock()
				n++
				m.Unlock()
			}
		}()
	}
	wg.Wait()
	if n != goroutines*each {
		t.Fatalf("count %d, want %d", n, goroutines*each)
	}
}

// TestMutexTryLockAfterUnlock: Lock holds the mutex and Unlock frees it.
func TestMutexTryLockAfterUnlock(t *testing.T) {
	t.Parallel()
	var m Mutex
	m.Lock()
	if m.mu.TryLock() {
		t.Fatal("locked Mutex could be locked again")
	}
	m.Unlock()
	if !m.mu.TryLock() {
		t.Fatal("unlocked Mutex could not be locked")
	}
}
