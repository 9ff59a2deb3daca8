package metrics

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTotalsSubmetrics(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	totals, err := NewTotals(append(DefaultSubmetrics(), "http_req_duration{status:500}", "checks", "http_reqs{status:200}")...)
	require.NoError(t, err)
	d := reg.Get(HTTPReqDuration)
	totals.Add(
		Sample{Metric: d, Value: 1, Tags: NewTags("status", "200", "expected_response", "true")},
		Sample{Metric: d, Value: 9, Tags: NewTags("status", "500", "expected_response", "false")},
		Sample{Metric: d, Value: 3, Tags: NewTags("status", "200", "expected_response", "true")},
	)
	totals.View(func(src SinkSource) {
		assert.Equal(t, 3.0, must(src.Sink(HTTPReqDuration).Value(agg("count"), 0)))
		assert.Equal(t, 2.0, must(src.Sink("http_req_duration{expected_response:true}").Value(agg("count"), 0)))
		assert.Equal(t, 9.0, must(src.Sink("http_req_duration{status:500}").Value(agg("max"), 0)))
		assert.Nil(t, src.Sink("http_reqs{status:200}"), "no sample of the parent yet")
		assert.Nil(t, src.Sink("http_reqs"))
	})
	assert.Equal(t, []*Metric{d}, totals.Metrics())
	var names []string
	for _, sm := range totals.Submetrics() {
		names = append(names, sm.Name)
	}
	assert.Equal(t, []string{"http_req_duration{expected_response:true}", "http_req_duration{status:500}"}, names)

	_, err = NewTotals("x{")
	require.Error(t, err)
}

// Totals from different registries (one per generator) merge by name.
func TestTotalsMerge(t *testing.T) {
	t.Parallel()
	keys := []string{"http_req_duration{status:200}"}
	whole, err := NewTotals(keys...)
	require.NoError(t, err)
	var parts []*Totals
	for g := range 3 {
		reg := NewRegistry()
		part, err := NewTotals(keys...)
		require.NoError(t, err)
		for i := range 100 {
			s := Sample{Metric: reg.Get(HTTPReqDuration), Value: float64(g*100 + i), Tags: NewTags("status", "200")}
			part.Add(s)
			whole.Add(s)
		}
		parts = append(parts, part)
	}
	merged, err := NewTotals(keys...)
	require.NoError(t, err)
	for _, p := range parts {
		require.NoError(t, merged.Merge(p))
	}
	for _, key := range []string{HTTPReqDuration, keys[0]} {
		for _, a := range []Aggregation{{Name: "count"}, {Name: "min"}, {Name: "max"}, Percentile(90)} {
			var w, m float64
			whole.View(func(src SinkSource) { w = must(src.Sink(key).Value(a, 0)) })
			merged.View(func(src SinkSource) { m = must(src.Sink(key).Value(a, 0)) })
			assert.Equal(t, w, m, "%s %s", key, a)
		}
	}
	require.Error(t, merged.Merge(merged))

	untracked, err := NewTotals()
	require.NoError(t, err)
	require.Error(t, untracked.Merge(parts[0]), "a sub-metric the receiver does not track")

	conflicting, err := NewTotals()
	require.NoError(t, err)
	reg := NewRegistry()
	conflicting.Add(Sample{Metric: reg.MustRegister("custom", Counter, Default), Value: 1})
	other, err := NewTotals()
	require.NoError(t, err)
	other.Add(Sample{Metric: NewRegistry().MustRegister("custom", Trend, Default), Value: 1})
	require.ErrorIs(t, conflicting.Merge(other), ErrMetricConflict)
}

func TestTotalsConcurrentUse(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	ev, err := NewEvaluator(Thresholds{HTTPReqDuration: {{Source: "p(95)<1", Aggregation: Percentile(95), Operator: Less, Bound: 1}}}, reg)
	require.NoError(t, err)
	totals, err := NewTotals(ev.MetricKeys()...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				totals.Add(Sample{Metric: reg.Get(HTTPReqDuration), Value: float64(i)})
				if i%100 == 0 {
					totals.View(func(src SinkSource) { ev.Evaluate(src, 0, false) })
				}
			}
		})
	}
	wg.Wait()
	totals.View(func(src SinkSource) {
		assert.Equal(t, 4000.0, must(src.Sink(HTTPReqDuration).Value(agg("count"), 0)))
	})
}
