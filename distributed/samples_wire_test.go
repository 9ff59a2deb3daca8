package distributed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

func TestSamplesWireRoundTripAndTruncation(t *testing.T) {
	src := metrics.NewRegistry()
	dur := src.MustRegister("http_req_duration", metrics.Trend, metrics.Time)
	reqs := src.MustRegister("my_counter", metrics.Counter, metrics.Default)
	tags := metrics.NewTags("scenario", "s", "status", "200")
	at := time.Unix(1_700_000_000, 123)
	in := []metrics.Sample{
		{Metric: dur, Time: at, Value: 12.5, Tags: tags, Metadata: map[string]string{"vu": "3", "iter": "7"}},
		{Metric: reqs, Time: at.Add(-time.Millisecond), Value: 1, Tags: metrics.NewTags("scenario", "s", "status", "200")},
		{Metric: reqs, Time: at.Add(time.Second), Value: 1},
	}
	e := newSampleEncoder()
	for i := range in {
		e.add(&in[i])
	}
	b := e.encode()

	dst := metrics.NewRegistry()
	out, err := decodeSamples(b, dst.Register)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		assert.Equal(t, in[i].Metric.Name, out[i].Metric.Name)
		assert.Same(t, dst.Get(in[i].Metric.Name), out[i].Metric, "metrics come from the coordinator's registry")
		assert.True(t, in[i].Time.Equal(out[i].Time), "%d: %v != %v", i, in[i].Time, out[i].Time)
		assert.Equal(t, in[i].Value, out[i].Value)
		assert.True(t, in[i].Tags.Equal(out[i].Tags), "%d: %v != %v", i, in[i].Tags, out[i].Tags)
		assert.Equal(t, in[i].Metadata, out[i].Metadata)
	}
	assert.Equal(t, 2, len(e.tagSets), "equal tag sets are sent once")

	for n := range len(b) {
		_, err := decodeSamples(b[:n], dst.Register)
		assert.Error(t, err, "truncated to %d bytes", n)
	}
	_, err = decodeSamples(append(b, 0), dst.Register)
	assert.Error(t, err, "trailing bytes")
	conflicting := metrics.NewRegistry()
	conflicting.MustRegister("my_counter", metrics.Gauge, metrics.Default)
	_, err = decodeSamples(b, conflicting.Register)
	assert.ErrorIs(t, err, metrics.ErrMetricConflict)

	e.reset()
	assert.Equal(t, []byte{samplesWireVersion, 0, 0, 0}, e.encode())
}

func FuzzDecodeSamples(f *testing.F) {
	reg := metrics.NewRegistry()
	e := newSampleEncoder()
	e.add(&metrics.Sample{Metric: reg.MustRegister("my_counter", metrics.Counter, metrics.Default), Time: time.Unix(1, 0), Value: 1,
		Tags: metrics.NewTags("a", "b"), Metadata: map[string]string{"vu": "1"}})
	f.Add(e.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeSamples(b, metrics.NewRegistry().Register)
	})
}
