package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// WriteText writes the comparison for a terminal (`loadlens compare`):
// the runs, the outcome, a table of metrics, threshold changes, and new
// and resolved findings. Text from the runs is written as is; the caller
// of a terminal program owns its escaping.
func (c Comparison) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Base:    %s\n", c.Base)
	ew.printf("Current: %s\n", c.Current)
	ew.printf("Outcome: %s (noise floor %s, alpha %g)\n", c.Outcome, formatValue(c.NoiseFloor, "ratio"), c.Alpha)
	for _, w := range c.Warnings {
		ew.printf("Warning: %s\n", w)
	}
	ew.printf("\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tBASE\tCURRENT\tDELTA\tCHANGE\tP-VALUE\tOUTCOME")
	for _, m := range c.Metrics {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name(), optValue(m.Base, m.Unit), optValue(m.Current, m.Unit),
			signed(m.Delta, m.Unit), formatChange(m.Change), formatP(m.PValue), m.Outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if tests := c.tests(); len(tests) > 0 {
		ew.printf("(p-values: %s)\n", strings.Join(tests, "; "))
	}
	var changed []ThresholdChange
	for _, t := range c.Thresholds {
		if t.Changed() {
			changed = append(changed, t)
		}
	}
	if len(changed) > 0 {
		ew.printf("\nThresholds that changed:\n")
		for _, t := range changed {
			base := t.Base
			if base == "" {
				base = "absent"
			}
			ew.printf("  %s %s: %s → %s\n", t.Metric, t.Threshold, base, t.Current)
		}
	}
	ew.printf("\nNew findings (%d):\n", len(c.NewFindings))
	for _, f := range c.NewFindings {
		ew.printf("  [%s] %s: %s\n", f.Severity, f.Kind, f.Message)
	}
	ew.printf("Resolved findings (%d):\n", len(c.ResolvedFindings))
	for _, f := range c.ResolvedFindings {
		ew.printf("  [%s] %s: %s\n", f.Severity, f.Kind, f.Message)
	}
	return ew.err
}

// tests returns the distinct significance tests used, described.
func (c Comparison) tests() []string {
	seen := map[string]bool{}
	for _, m := range c.Metrics {
		if m.Test != "" {
			seen[m.Test] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// String describes the run in one line: name, start, duration and status.
func (r RunRef) String() string {
	name := r.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("%s, started %s, %s, %s", name, r.Start.UTC().Format(time.RFC3339), r.Duration.Round(time.Second), r.Status)
}

// Name returns the metric's label with its tags: "latency p95 {name=GET /}".
func (m MetricDelta) Name() string { return m.Label + tagString(m.Tags) }

// WriteComparisonJSON writes c as an indented, versioned JSON document:
// {"schema_version": "1", "comparison": {...}}.
func WriteComparisonJSON(w io.Writer, c Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	doc := struct {
		SchemaVersion string     `json:"schema_version"`
		Comparison    Comparison `json:"comparison"`
	}{SchemaVersion, c}
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("comparison json: %w", err)
	}
	return nil
}

// formatValue formats v in unit: "ms", "ratio" (shown in %), "1/s",
// "bytes", "%", "count" (whole numbers in full) or "" (a plain number).
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	switch unit {
	case "ms":
		return fmt.Sprintf("%.4g ms", v)
	case "ratio":
		return fmt.Sprintf("%.3g %%", v*100)
	case "1/s", "req/s":
		return fmt.Sprintf("%.4g/s", v)
	case "%":
		return fmt.Sprintf("%.3g %%", v)
	case "bytes":
		return loadtest.FormatBytes(v)
	case "count":
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return fmt.Sprintf("%.0f", v)
		}
	}
	return fmt.Sprintf("%.4g", v)
}

func optValue(v *float64, unit string) string {
	if v == nil {
		return "–"
	}
	return formatValue(*v, unit)
}

func signed(v *float64, unit string) string {
	if v == nil {
		return "–"
	}
	s := formatValue(*v, unit)
	if *v > 0 {
		s = "+" + s
	}
	return s
}

func formatChange(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%+.1f %%", *v*100)
}

func formatP(p *float64) string {
	if p == nil {
		return "–"
	}
	if *p < 0.001 {
		return fmt.Sprintf("%.1e", *p)
	}
	return fmt.Sprintf("%.3f", *p)
}

// errWriter keeps the first write error and skips writes after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(e, format, args...)
}
