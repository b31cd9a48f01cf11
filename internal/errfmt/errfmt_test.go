package errfmt

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// TestErrorfIsFmtErrorf holds Errorf to fmt.Errorf: the same text, and %w wraps.
func TestErrorfIsFmtErrorf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		format string
		args   []any
	}{
		{"no verbs", "plain text", nil},
		{"escaped percent", "100%% of %s", []any{"it"}},
		{"verbs", "port %d of %s", []any{8090, "cam"}},
		{"wrapped", "open: %w", []any{fs.ErrNotExist}},
		{"missing argument", "port %d", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := Errorf(tc.format, tc.args...), fmt.Errorf(tc.format, tc.args...)
			if got.Error() != want.Error() {
				t.Errorf("got %q, fmt.Errorf gives %q", got, want)
			}
			if (errors.Unwrap(got) == nil) != (errors.Unwrap(want) == nil) {
				t.Errorf("unwraps to %v, fmt.Errorf's to %v", errors.Unwrap(got), errors.Unwrap(want))
			}
		})
	}
	if err := Errorf("open: %w", fs.ErrNotExist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not wrap fs.ErrNotExist", err)
	}
}
