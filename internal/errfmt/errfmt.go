// Package errfmt holds Errorf: fmt.Errorf as a call.
//
// Since Go 1.26 fmt.Errorf is inlined at every call site (so that a format without verbs takes errors.New's
// path without a call); each copy, with its allocation, write barrier and inline-tree data, costs ~170 bytes
// of the mipsle router build, and hairpin makes errors at hundreds of places. Code that ships calls
// errfmt.Errorf; tests may use either.
package errfmt

import "fmt"

// Errorf is fmt.Errorf: the same message, and %w wraps as there. go vet checks its format like fmt.Errorf's.
//
//go:noinline
func Errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
