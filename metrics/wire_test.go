package metrics

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A trend sent over the wire and merged gives the same aggregations, bit
// for bit, as merging the original: the coordinator of a distributed run
// reports what one process would.
func TestTrendSinkWireMergesExactly(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		values func() []float64
	}{
		{"empty", func() []float64 { return nil }},
		{"one", func() []float64 { return []float64{42.5} }},
		{"latencies", func() []float64 {
			v := make([]float64, 5000)
			for i := range v {
				v[i] = rng.ExpFloat64() * 20
			}
			return v
		}},
		{"signed with zeros", func() []float64 { return []float64{-3, 0, 0, 1e-9, 7e12, -1e-300} }},
		{"sketches on both sides", func() []float64 {
			v := make([]float64, 4*TrendExactLimit)
			for i := range v {
				v[i] = rng.ExpFloat64() * 20
			}
			return v
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := NewTrendSink(), NewTrendSink()
			for i, v := range tc.values() {
				if i%3 == 0 {
					a.Add(v)
				} else {
					b.Add(v)
				}
			}
			wire, err := b.MarshalBinary()
			require.NoError(t, err)
			var decoded TrendSink
			require.NoError(t, decoded.UnmarshalBinary(wire))

			direct, viaWire := NewTrendSink(), NewTrendSink()
			require.NoError(t, direct.Merge(a))
			require.NoError(t, direct.Merge(b))
			require.NoError(t, viaWire.Merge(a))
			require.NoError(t, viaWire.Merge(&decoded))
			for _, agg := range []Aggregation{{Name: "avg"}, {Name: "min"}, {Name: "max"}, {Name: "med"},
				{Name: "count"}, Percentile(90), Percentile(95), Percentile(99.9)} {
				want, wok := direct.Value(agg, 0)
				got, gok := viaWire.Value(agg, 0)
				assert.Equal(t, wok, gok, agg.String())
				assert.Equal(t, want, got, agg.String())
			}
		})
	}
}

func TestTrendSinkUnmarshalRejectsGarbage(t *testing.T) {
	t.Parallel()
	s := NewTrendSink()
	s.Add(1)
	good, err := s.MarshalBinary()
	require.NoError(t, err)
	for _, b := range [][]byte{nil, {9}, good[:3], good[:len(good)-1]} {
		var d TrendSink
		assert.Error(t, d.UnmarshalBinary(b), "%x", b)
	}
}

func TestTotalsWireRoundTrip(t *testing.T) {
	t.Parallel()
	keys := append(DefaultSubmetrics(), "http_req_duration{status:500}", "http_reqs{status:200}")
	reg := NewRegistry()
	custom := reg.MustRegister("cart_size", Gauge, Default)
	src, err := NewTotals(keys...)
	require.NoError(t, err)
	d, reqs, failed := reg.Get(HTTPReqDuration), reg.Get(HTTPReqs), reg.Get(HTTPReqFailed)
	src.Add(
		Sample{Metric: d, Value: 12, Tags: NewTags("status", "200", "expected_response", "true")},
		Sample{Metric: d, Value: 900, Tags: NewTags("status", "500", "expected_response", "false")},
		Sample{Metric: reqs, Value: 1, Tags: NewTags("status", "200")},
		Sample{Metric: failed, Value: 1},
		Sample{Metric: failed, Value: 0},
		Sample{Metric: custom, Value: 3},
	)
	b, err := json.Marshal(src)
	require.NoError(t, err)
	var decoded Totals
	require.NoError(t, json.Unmarshal(b, &decoded))

	into, err := NewTotals(keys...)
	require.NoError(t, err)
	require.NoError(t, into.Merge(&decoded))
	require.NoError(t, into.Merge(src))
	into.View(func(s SinkSource) {
		assert.Equal(t, 2.0, must(s.Sink(HTTPReqs).Value(agg("count"), 0)))
		assert.Equal(t, 2.0, must(s.Sink("http_reqs{status:200}").Value(agg("count"), 0)))
		assert.Equal(t, 4.0, must(s.Sink("http_req_duration").Value(agg("count"), 0)))
		assert.Equal(t, 900.0, must(s.Sink("http_req_duration{status:500}").Value(agg("max"), 0)))
		assert.Equal(t, 2.0, must(s.Sink("http_req_duration{expected_response:true}").Value(agg("count"), 0)))
		assert.Equal(t, 0.5, must(s.Sink(HTTPReqFailed).Value(agg("rate"), 0)))
		assert.Equal(t, 3.0, must(s.Sink("cart_size").Value(agg("value"), 0)))
	})

	into.Remove(HTTPReqDuration, "no_such_metric")
	into.View(func(s SinkSource) {
		assert.Nil(t, s.Sink(HTTPReqDuration))
		assert.NotNil(t, s.Sink(HTTPReqs))
	})
	assert.NotContains(t, into.Submetrics(), "http_req_duration{status:500}")

	var bad Totals
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"metrics":[{"name":"x","type":"trend","sink":{"counter":{}}}]}`), &bad), `metric "x": no trend sink`)
}

// UnmarshalJSON's quick path for MarshalJSON's own strings decodes what
// encoding/json's []byte decoding does, and fails where it fails; never a
// panic.
func FuzzTrendSinkUnmarshalJSON(f *testing.F) {
	s := NewTrendSink()
	for i := range 50 {
		s.Add(float64(i) * 1.5)
	}
	good, err := s.MarshalJSON()
	require.NoError(f, err)
	for _, seed := range []string{string(good), `"AQ=="`, `""`, `"\u0041Q=="`, `null`, `"`, `"AQ\n=="`, "\"AQ\n==\"", `"!!"`, `1`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var quick TrendSink
		quickErr := quick.UnmarshalJSON(data)
		var raw []byte
		slowErr := json.Unmarshal(data, &raw)
		var slow TrendSink
		if slowErr == nil {
			slowErr = slow.UnmarshalBinary(raw)
		}
		if (quickErr == nil) != (slowErr == nil) {
			t.Fatalf("%q: quick path %v, encoding/json %v", data, quickErr, slowErr)
		}
		if quickErr == nil {
			assert.Equal(t, slow.Count(), quick.Count())
			assert.Equal(t, slow.Quantile(0.95), quick.Quantile(0.95))
		}
	})
}
