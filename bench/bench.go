// Package bench measures hairpin against the kernel's floor inside the lab's namespaces: throughput of a
// hairpinned flow, the time to apply many forwards, and the new-connection rate through the last of many
// forwards. Every comparison alternates its variants round by round in the same run, so drift of a shared,
// busy machine hits both sides alike, and ratios are medians of per-round pairs. `make bench` runs it through
// cmd/hairpin-bench; nothing here runs under `go test` except the pure helpers.
package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Target is the bound a ratio must meet: ">=" or "<=" Limit; Op "max" bounds the row's value itself, in the
// row's unit.
type Target struct {
	Op    string
	Limit float64
}

// met reports whether ratio satisfies the target.
func (t Target) met(ratio float64) bool {
	if t.Op == ">=" {
		return ratio >= t.Limit
	}
	return ratio <= t.Limit
}

func (t Target) String() string {
	if t.Op == "" {
		return "-"
	}
	if t.Op == "max" {
		return fmt.Sprintf("<= %g", t.Limit)
	}
	return fmt.Sprintf("%s %.2fx", t.Op, t.Limit)
}

// Row is one line of the result table. A row without Baseline is itself a baseline (or context).
type Row struct {
	Bench    string
	Variant  string
	Samples  []float64 // one per round
	Unit     string
	Baseline string    // variant the ratio compares against
	Ratios   []float64 // per-round Samples[i] / baseline's Samples[i]
	Target   Target
	Note     string
}

// Value is the median of the row's samples.
func (r Row) Value() float64 { return median(r.Samples) }

// ratio is the median of the per-round ratios, NaN when the row has none.
func (r Row) ratio() float64 {
	if len(r.Ratios) == 0 {
		return math.NaN()
	}
	return median(r.Ratios)
}

// Verdict is PASS or FAIL for rows with a target, "-" otherwise.
func (r Row) Verdict() string {
	switch {
	case r.Target.Op == "max":
		if r.Value() <= r.Target.Limit {
			return "PASS"
		}
		return "FAIL"
	case r.Target.Op == "" || len(r.Ratios) == 0:
		return "-"
	}
	if r.Target.met(r.ratio()) {
		return "PASS"
	}
	return "FAIL"
}

// median of xs (NaN for none); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pair fills a.Ratios with a's samples over base's, round by round, and names base as a's baseline.
func pair(a *Row, base Row) {
	a.Baseline = base.Variant
	a.Ratios = nil
	for i := range min(len(a.Samples), len(base.Samples)) {
		if base.Samples[i] != 0 {
			a.Ratios = append(a.Ratios, a.Samples[i]/base.Samples[i])
		}
	}
}

// WriteTable prints rows as an aligned table: the median, the spread over rounds, the median per-round ratio
// against the baseline, the target and the verdict.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tVARIANT\tVALUE\tUNIT\tRANGE (n)\tRATIO\tVS\tTARGET\tRESULT")
	for _, r := range rows {
		ratio, vs := "-", "-"
		if len(r.Ratios) > 0 {
			ratio, vs = fmt.Sprintf("%.3fx", r.ratio()), r.Baseline
		}
		variant := r.Variant
		if r.Note != "" {
			variant += " (" + r.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Bench, variant, num(r.Value()), r.Unit,
			spread(r.Samples), ratio, vs, r.Target, r.Verdict())
	}
	return tw.Flush()
}

func spread(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s..%s (%d)", num(slices.Min(xs)), num(slices.Max(xs)), len(xs))
}

// num prints three significant digits without an exponent.
func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", x), "0"), ".")
	}
}

// Order returns the variants forward on even rounds and backward on odd ones (A B, B A, ...), so a variant
// is never always first after a ruleset change or always last before the machine heats up.
func Order[T any](round int, variants []T) []T {
	out := slices.Clone(variants)
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// rotate returns the variants rotated left by round: over len(variants) rounds every variant takes every
// position once, so no variant always runs first after setup or last before a neighbour's burst.
func rotate[T any](round int, variants []T) []T {
	if len(variants) == 0 {
		return nil
	}
	k := round % len(variants)
	return append(slices.Clone(variants[k:]), variants[:k]...)
}
