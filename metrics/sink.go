package metrics

import (
	"fmt"
	"math"
	"time"
)

// Sink folds the values of one metric (or sub-metric) into k6's
// aggregations. Sinks are not safe for concurrent use; [Totals] guards its own.
type Sink interface {
	// Add folds one value into the sink. It does not allocate.
	Add(v float64)
	// Merge folds another sink of the same type into this one, as if its
	// values had been added here.
	Merge(o Sink) error
	// Value returns an aggregation over the values added so far; elapsed is
	// the test run's duration, used by counter rates. ok is false when the
	// sink has no value for it: no samples, an aggregation the type does not
	// report, or a rate over zero time.
	Value(a Aggregation, elapsed time.Duration) (v float64, ok bool)
	// Empty reports whether no value was added.
	Empty() bool
}

var (
	_ Sink = (*CounterSink)(nil)
	_ Sink = (*GaugeSink)(nil)
	_ Sink = (*RateSink)(nil)
	_ Sink = (*TrendSink)(nil)
)

// NewSink returns an empty sink for a metric of type t.
func NewSink(t MetricType) Sink {
	switch t {
	case Counter:
		return &CounterSink{}
	case Gauge:
		return &GaugeSink{}
	case Rate:
		return &RateSink{}
	case Trend:
		return NewTrendSink()
	}
	panic(fmt.Sprintf("metrics.NewSink: unknown metric type %d", t))
}

func mergeTypeError(want Sink, got Sink) error {
	return fmt.Errorf("cannot merge a %T into a %T", got, want)
}

// CounterSink sums values. It reports count (the sum) and rate (the sum per
// second of elapsed test time). An empty counter's count is 0: a counter that
// never moved is a real observation, unlike an empty trend.
type CounterSink struct {
	Sum   float64 `json:"sum"`
	Added int64   `json:"added"` // how many values were added
}

// Add implements Sink.
func (c *CounterSink) Add(v float64) { c.Sum += v; c.Added++ }

// Merge implements Sink.
func (c *CounterSink) Merge(o Sink) error {
	oc, ok := o.(*CounterSink)
	if !ok {
		return mergeTypeError(c, o)
	}
	c.Sum += oc.Sum
	c.Added += oc.Added
	return nil
}

// Empty implements Sink.
func (c *CounterSink) Empty() bool { return c.Added == 0 }

// Value implements Sink.
func (c *CounterSink) Value(a Aggregation, elapsed time.Duration) (float64, bool) {
	switch a.Name {
	case "count":
		return c.Sum, true
	case "rate":
		if elapsed <= 0 {
			return 0, false
		}
		return c.Sum / elapsed.Seconds(), true
	}
	return 0, false
}

// GaugeSink keeps the last value and the smallest and largest seen. It
// reports value, min and max.
type GaugeSink struct {
	Last  float64 `json:"value"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Added int64   `json:"added"`
}

// Add implements Sink.
func (g *GaugeSink) Add(v float64) {
	if g.Added == 0 || v < g.Min {
		g.Min = v
	}
	if g.Added == 0 || v > g.Max {
		g.Max = v
	}
	g.Last = v
	g.Added++
}

// Merge implements Sink. The merged value is the other sink's last value
// when it has one: merging is in arrival order.
func (g *GaugeSink) Merge(o Sink) error {
	og, ok := o.(*GaugeSink)
	if !ok {
		return mergeTypeError(g, o)
	}
	if og.Added == 0 {
		return nil
	}
	if g.Added == 0 {
		*g = *og
		return nil
	}
	g.Min = math.Min(g.Min, og.Min)
	g.Max = math.Max(g.Max, og.Max)
	g.Last = og.Last
	g.Added += og.Added
	return nil
}

// Empty implements Sink.
func (g *GaugeSink) Empty() bool { return g.Added == 0 }

// Value implements Sink.
func (g *GaugeSink) Value(a Aggregation, _ time.Duration) (float64, bool) {
	if g.Added == 0 {
		return 0, false
	}
	switch a.Name {
	case "value":
		return g.Last, true
	case "min":
		return g.Min, true
	case "max":
		return g.Max, true
	}
	return 0, false
}

// RateSink counts non-zero values against all values. It reports rate
// (non-zero / total), passes (non-zero) and fails (zero). For
// http_req_failed, as in k6, "passes" are failed requests.
type RateSink struct {
	Trues int64 `json:"trues"`
	Total int64 `json:"total"`
}

// Add implements Sink.
func (r *RateSink) Add(v float64) {
	if v != 0 {
		r.Trues++
	}
	r.Total++
}

// Merge implements Sink.
func (r *RateSink) Merge(o Sink) error {
	or, ok := o.(*RateSink)
	if !ok {
		return mergeTypeError(r, o)
	}
	r.Trues += or.Trues
	r.Total += or.Total
	return nil
}

// Empty implements Sink.
func (r *RateSink) Empty() bool { return r.Total == 0 }

// Value implements Sink.
func (r *RateSink) Value(a Aggregation, _ time.Duration) (float64, bool) {
	if r.Total == 0 {
		return 0, false
	}
	switch a.Name {
	case "rate":
		return float64(r.Trues) / float64(r.Total), true
	case "passes":
		return float64(r.Trues), true
	case "fails":
		return float64(r.Total - r.Trues), true
	}
	return 0, false
}
