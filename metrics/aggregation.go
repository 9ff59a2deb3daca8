package metrics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Aggregation names one value a sink reports, in k6's spelling: "count",
// "rate", "value", "min", "max", "avg", "med", "passes", "fails", or a
// percentile "p(N)" with N in [0, 100].
type Aggregation struct {
	Name string  // "p" for a percentile
	P    float64 // the percentile, in [0, 100], when Name is "p"
}

// The aggregations each metric type reports in summaries.
var sinkAggregations = map[MetricType][]string{
	Counter: {"count", "rate"},
	Gauge:   {"value", "min", "max"},
	Rate:    {"rate", "passes", "fails"},
	Trend:   {"avg", "min", "med", "max", "count", "p"},
}

// The aggregations k6 accepts in thresholds, per metric type.
var thresholdAggregations = map[MetricType][]string{
	Counter: {"count", "rate"},
	Gauge:   {"value"},
	Rate:    {"rate"},
	Trend:   {"avg", "min", "med", "max", "p"},
}

// Percentile returns the aggregation p(n).
func Percentile(n float64) Aggregation { return Aggregation{Name: "p", P: n} }

// ParseAggregation parses an aggregation name such as "avg" or "p(99.9)".
// Surrounding spaces are ignored.
func ParseAggregation(s string) (Aggregation, error) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "p("); ok {
		num, ok := strings.CutSuffix(inner, ")")
		if !ok {
			return Aggregation{}, fmt.Errorf("aggregation %q: a percentile is written p(N)", s)
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(n) || n < 0 || n > 100 {
			return Aggregation{}, fmt.Errorf("aggregation %q: percentile must be a number in [0, 100]", s)
		}
		return Percentile(n), nil
	}
	switch s {
	case "count", "rate", "value", "min", "max", "avg", "med", "passes", "fails":
		return Aggregation{Name: s}, nil
	}
	return Aggregation{}, fmt.Errorf("aggregation %q: unknown; want count, rate, value, min, max, avg, med, passes, fails or p(N)", s)
}

// String formats the aggregation as k6 spells it.
func (a Aggregation) String() string {
	if a.Name == "p" {
		return "p(" + strconv.FormatFloat(a.P, 'f', -1, 64) + ")"
	}
	return a.Name
}

// MarshalText implements encoding.TextMarshaler.
func (a Aggregation) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Aggregation) UnmarshalText(b []byte) error {
	v, err := ParseAggregation(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ValidFor reports whether a sink of type t reports a.
func (a Aggregation) ValidFor(t MetricType) bool {
	for _, name := range sinkAggregations[t] {
		if name == a.Name {
			return true
		}
	}
	return false
}

// ParseTrendStats parses k6's summaryTrendStats list (e.g. "avg", "p(90)"),
// reporting every invalid entry at once. Only trend aggregations are allowed.
func ParseTrendStats(stats []string) ([]Aggregation, error) {
	var errs []error
	out := make([]Aggregation, 0, len(stats))
	for i, s := range stats {
		a, err := ParseAggregation(s)
		if err == nil && !a.ValidFor(Trend) {
			err = fmt.Errorf("aggregation %q: not a trend stat; want avg, min, med, max, count or p(N)", s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("summaryTrendStats[%d]: %w", i, err))
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// DefaultTrendStats returns k6's default summaryTrendStats:
// avg, min, med, max, p(90), p(95).
func DefaultTrendStats() []Aggregation {
	return []Aggregation{{Name: "avg"}, {Name: "min"}, {Name: "med"}, {Name: "max"}, Percentile(90), Percentile(95)}
}
