package poll

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if err := Until(context.Background(), time.Minute, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Fatalf("Until = %v after %d calls, want nil after 3", err, n)
	}
	if err := Until(context.Background(), 0, func() bool { return false }); err == nil {
		t.Fatal("Until of a false condition with no time left succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Until(ctx, time.Minute, func() bool { return false }); err != context.Canceled {
		t.Fatalf("Until after cancel = %v, want context.Canceled", err)
	}
}

type fakeT struct{ failed string }

func (f *fakeT) Helper()                           {}
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestWait(t *testing.T) {
	var ft fakeT
	Wait(&ft, "true", func() bool { return true })
	if ft.failed != "" {
		t.Fatalf("Wait of a true condition failed: %s", ft.failed)
	}
}
