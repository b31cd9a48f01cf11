// Package doctor holds what `hairpin doctor` reports: findings, each with a level, what was found and the fix.
// Each backend contributes its own checks (backend.Driver.Doctor); the command prints them with Report.
package doctor

import (
	"fmt"
	"io"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// Level says how bad a finding is.
type Level string

const (
	OK   Level = "ok"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Finding is one line of the report.
type Finding struct {
	Level Level
	What  string
	// Fix says what to do; not printed for OK findings.
	Fix string
}

// Report prints the findings and returns an error when any failed.
func Report(w io.Writer, fs []Finding) error {
	failed := 0
	for _, f := range fs {
		fmt.Fprintf(w, "%-4s  %s\n", strings.ToUpper(string(f.Level)), f.What)
		if f.Fix != "" && f.Level != OK {
			fmt.Fprintf(w, "      fix: %s\n", f.Fix)
		}
		if f.Level == Fail {
			failed++
		}
	}
	if failed > 0 {
		return errfmt.Errorf("%d problem(s) found", failed)
	}
	return nil
}

// Reach is the finding for a reachability classification.
func Reach(v reach.Verdict) Finding {
	level := OK
	switch {
	case v.Class.Unreachable():
		level = Fail
	case v.Class == reach.Unknown || v.Upstream == reach.UnknownMapped:
		level = Warn
	}
	return Finding{level, fmt.Sprintf("reachability (%s): %s: %s", v.Family, v.String(), v.Reason), v.Advice}
}
