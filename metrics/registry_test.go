package metrics

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryBuiltins(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	tests := []struct {
		name     string
		typ      MetricType
		contains ValueType
	}{
		{VUs, Gauge, Default},
		{Iterations, Counter, Default},
		{IterationDuration, Trend, Time},
		{Checks, Rate, Default},
		{HTTPReqFailed, Rate, Default},
		{HTTPReqDuration, Trend, Time},
		{DataReceived, Counter, Data},
		{DroppedIterations, Counter, Default},
	}
	for _, tt := range tests {
		m := r.Get(tt.name)
		require.NotNil(t, m, tt.name)
		assert.Equal(t, tt.typ, m.Type, tt.name)
		assert.Equal(t, tt.contains, m.Contains, tt.name)
	}
	assert.Nil(t, r.Get("nope"))
}

func TestRegistryRegister(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		metric  string
		typ     MetricType
		wantErr error
	}{
		{name: "custom", metric: "my_counter", typ: Counter},
		{name: "same again", metric: "http_reqs", typ: Counter},
		{name: "conflict", metric: "http_reqs", typ: Trend, wantErr: ErrMetricConflict},
		{name: "starts with digit", metric: "1abc", typ: Counter, wantErr: ErrInvalidMetricName},
		{name: "one char", metric: "a", typ: Counter, wantErr: ErrInvalidMetricName},
		{name: "dash", metric: "my-metric", typ: Counter, wantErr: ErrInvalidMetricName},
		{name: "129 chars ok", metric: "a" + string(make129()), typ: Gauge},
		{name: "130 chars", metric: "ab" + string(make129()), typ: Gauge, wantErr: ErrInvalidMetricName},
	}
	r := NewRegistry()
	for _, tt := range tests {
		m, err := r.Register(tt.metric, tt.typ, Default)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Same(t, m, r.Get(tt.metric), tt.name)
	}
	_, err := r.Register("ok_name", MetricType(9), Default)
	require.Error(t, err)
	assert.Panics(t, func() { r.MustRegister("x", Counter, Default) })
	assert.NotEmpty(t, r.All())
}

func make129() []byte {
	b := make([]byte, 128)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

func TestMetricJSON(t *testing.T) {
	t.Parallel()
	m := NewRegistry().Get(HTTPReqDuration)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"http_req_duration","type":"trend","contains":"time"}`, string(out))
	var back Metric
	require.NoError(t, json.Unmarshal(out, &back))
	assert.Equal(t, *m, back)
	require.Error(t, json.Unmarshal([]byte(`{"type":"histogram"}`), &back))
	require.Error(t, json.Unmarshal([]byte(`{"contains":"bytes"}`), &back))
}
