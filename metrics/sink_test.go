package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func agg(s string) Aggregation {
	a, err := ParseAggregation(s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestSinkValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     MetricType
		values  []float64
		elapsed time.Duration
		want    map[string]float64
		missing []string
	}{
		{name: "counter", typ: Counter, values: []float64{1, 2, 3}, elapsed: 2 * time.Second,
			want: map[string]float64{"count": 6, "rate": 3}, missing: []string{"avg", "value"}},
		{name: "empty counter counts zero", typ: Counter, elapsed: time.Second,
			want: map[string]float64{"count": 0, "rate": 0}},
		{name: "counter rate over no time", typ: Counter, values: []float64{1},
			want: map[string]float64{"count": 1}, missing: []string{"rate"}},
		{name: "gauge", typ: Gauge, values: []float64{5, 1, 9, 4},
			want: map[string]float64{"value": 4, "min": 1, "max": 9}, missing: []string{"count"}},
		{name: "empty gauge", typ: Gauge, missing: []string{"value", "min", "max"}},
		{name: "rate", typ: Rate, values: []float64{1, 0, 0, 1, 1, 0, 0, 0},
			want: map[string]float64{"rate": 3.0 / 8, "passes": 3, "fails": 5}, missing: []string{"count"}},
		{name: "empty rate has no data", typ: Rate, missing: []string{"rate", "passes", "fails"}},
		{name: "trend", typ: Trend, values: []float64{4, 1, 3, 2},
			want:    map[string]float64{"avg": 2.5, "min": 1, "max": 4, "count": 4, "p(0)": 1, "p(100)": 4},
			missing: []string{"rate", "value"}},
		{name: "trend of one", typ: Trend, values: []float64{7.25},
			want: map[string]float64{"avg": 7.25, "min": 7.25, "med": 7.25, "max": 7.25, "p(95)": 7.25}},
		{name: "trend with negatives and zero", typ: Trend, values: []float64{-3, 0, 3},
			want: map[string]float64{"avg": 0, "min": -3, "max": 3, "med": 0}},
		{name: "empty trend", typ: Trend, missing: []string{"avg", "min", "med", "max", "count", "p(95)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSink(tt.typ)
			for _, v := range tt.values {
				s.Add(v)
			}
			assert.Equal(t, len(tt.values) == 0, s.Empty())
			for name, want := range tt.want {
				got, ok := s.Value(agg(name), tt.elapsed)
				require.True(t, ok, name)
				assert.InDelta(t, want, got, 1e-12, name)
			}
			for _, name := range tt.missing {
				_, ok := s.Value(agg(name), tt.elapsed)
				assert.False(t, ok, name)
			}
		})
	}
}

// k6's legacy summary shows http_req_failed as passes = failed requests and
// fails = good ones: ground truth k6-summary.json has passes 0, fails 98,
// value 0 for 98 good requests, and checks passes 196, fails 0, value 1.
func TestRateMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	failed := &RateSink{}
	for range 98 {
		failed.Add(0)
	}
	checks := &RateSink{}
	for range 196 {
		checks.Add(1)
	}
	for _, tt := range []struct {
		sink                 *RateSink
		passes, fails, value float64
	}{{failed, 0, 98, 0}, {checks, 196, 0, 1}} {
		p, _ := tt.sink.Value(agg("passes"), 0)
		f, _ := tt.sink.Value(agg("fails"), 0)
		v, _ := tt.sink.Value(agg("rate"), 0)
		assert.Equal(t, []float64{tt.passes, tt.fails, tt.value}, []float64{p, f, v})
	}
}

func TestGroundTruthCounterRate(t *testing.T) {
	t.Parallel()
	// k6-summary.json: http_reqs count 98, rate 19.46752346776035 over the
	// run's duration; the rate is count over elapsed seconds.
	c := &CounterSink{}
	for range 98 {
		c.Add(1)
	}
	elapsed := time.Duration(98 / 19.46752346776035 * float64(time.Second))
	r, ok := c.Value(agg("rate"), elapsed)
	require.True(t, ok)
	assert.InDelta(t, 19.46752346776035, r, 1e-6)
}

func TestSinkMergeTypeMismatch(t *testing.T) {
	t.Parallel()
	for _, typ := range []MetricType{Counter, Gauge, Rate, Trend} {
		other := Counter
		if typ == Counter {
			other = Gauge
		}
		require.Error(t, NewSink(typ).Merge(NewSink(other)), typ.String())
	}
}

func TestSinkMergeEqualsOneSink(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []MetricType{Counter, Gauge, Rate, Trend} {
		whole := NewSink(typ)
		parts := []Sink{NewSink(typ), NewSink(typ), NewSink(typ)}
		for i := range 3000 {
			v := math.Floor(rng.ExpFloat64() * 100)
			whole.Add(v)
			parts[i*len(parts)/3000].Add(v) // in order, so gauge "last" agrees
		}
		merged := NewSink(typ)
		for _, p := range parts {
			require.NoError(t, merged.Merge(p))
		}
		for _, name := range sinkAggregations[typ] {
			a := Aggregation{Name: name}
			if name == "p" {
				a = Percentile(99)
			}
			w, wok := whole.Value(a, time.Second)
			m, mok := merged.Value(a, time.Second)
			assert.Equal(t, wok, mok, "%s %s", typ, name)
			assert.Equal(t, w, m, "%s %s", typ, name)
		}
	}
}

// Property: random samples split across N histograms and merged give the
// same quantiles, min, max and avg, bit for bit, as one histogram of all
// samples.
func TestTrendMergeProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 1 + rng.IntN(5000)
		shards := 1 + rng.IntN(8)
		whole := NewTrendSink()
		parts := make([]*TrendSink, shards)
		for i := range parts {
			parts[i] = NewTrendSink()
		}
		for range n {
			v := math.Exp(rng.NormFloat64()*2)*rng.Float64()*1e3 - float64(rng.IntN(2))
			whole.Add(v)
			parts[rng.IntN(shards)].Add(v)
		}
		merged := NewTrendSink()
		for _, p := range slices.Backward(parts) {
			require.NoError(t, merged.Merge(p))
		}
		require.Equal(t, whole.Count(), merged.Count())
		for q := 0.0; q <= 1; q += 0.01 {
			require.Equal(t, whole.Quantile(q), merged.Quantile(q), "seed %d q %v", seed, q)
		}
		for _, name := range []string{"min", "max", "avg"} {
			w, _ := whole.Value(agg(name), 0)
			m, _ := merged.Value(agg(name), 0)
			require.Equal(t, w, m, "%s, seed %d", name, seed)
		}
	}
}

// avg divides an exact sum: a compensated float sum (Kahan, Neumaier)
// loses the 1 here, because its compensation term is a float sum itself.
func TestTrendAvgIsExact(t *testing.T) {
	t.Parallel()
	s := NewTrendSink()
	for _, v := range []float64{1e300, 1e100, 1, -1e300, -1e100} {
		s.Add(v)
	}
	avg, _ := s.Value(agg("avg"), 0)
	assert.Equal(t, 0.2, avg)
}

// Percentiles stay within 1 % of the exact (k6) value from 1 µs to 1 h.
func TestTrendAccuracyAcrossRange(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 200_000
	values := make([]float64, n)
	s := NewTrendSink()
	for i := range values {
		// log-uniform over 1 µs … 1 h, in milliseconds
		v := math.Exp(math.Log(1e-3) + rng.Float64()*(math.Log(3.6e6)-math.Log(1e-3)))
		values[i] = v
		s.Add(v)
	}
	slices.Sort(values)
	for _, p := range []float64{1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99} {
		exact := values[int(math.Round(p/100*(n-1)))]
		got, ok := s.Value(Percentile(p), 0)
		require.True(t, ok)
		assert.InEpsilon(t, exact, got, 0.01, "p(%v)", p)
	}
	assert.Equal(t, values[0], must(s.Value(agg("min"), 0)))
	assert.Equal(t, values[n-1], must(s.Value(agg("max"), 0)))
}

func TestTrendIgnoresNaNAndInf(t *testing.T) {
	t.Parallel()
	s := NewTrendSink()
	s.Add(math.NaN())
	s.Add(math.Inf(1))
	assert.True(t, s.Empty())
	s.Add(2)
	assert.Equal(t, 2.0, must(s.Value(agg("avg"), 0)))
}

func must(v float64, ok bool) float64 {
	if !ok {
		panic("no value")
	}
	return v
}

// Percentiles interpolate between order statistics at rank p·(n−1), as k6's
// exact trend does, and a small trend keeps its values, so it agrees with
// k6 to the bit: med=5.5 p(90)=9.1 p(95)=9.549999999999999 for 1..10.
func TestTrendInterpolatesLikeK6(t *testing.T) {
	t.Parallel()
	s := NewTrendSink()
	values := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, v := range values {
		s.Add(v)
	}
	slices.Sort(values)
	for _, p := range []float64{0, 10, 25, 50, 90, 95, 99, 100} {
		r := p / 100 * float64(len(values)-1)
		i := int(math.Floor(r))
		want := values[i]
		if i+1 < len(values) {
			want += (r - float64(i)) * (values[i+1] - values[i])
		}
		assert.Equal(t, want, must(s.Value(Percentile(p), 0)), "p(%v)", p)
	}
	assert.Equal(t, 5.5, must(s.Value(agg("med"), 0)))
	assert.Equal(t, 9.1, must(s.Value(agg("p(90)"), 0)))
	assert.Equal(t, 9.549999999999999, must(s.Value(agg("p(95)"), 0)), "k6 v2.2.0 says so too")
}

// Up to TrendExactLimit values percentiles are exact; one more moves the
// values into the sketch (bounded memory), within TrendAccuracy.
func TestTrendExactThenSketch(t *testing.T) {
	t.Parallel()
	s := NewTrendSink()
	exact := func(values []float64, q float64) float64 {
		v := slices.Sorted(slices.Values(values))
		r := q * float64(len(v)-1)
		i := int(math.Floor(r))
		if i+1 >= len(v) {
			return v[i]
		}
		return v[i] + (r-float64(i))*(v[i+1]-v[i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var values []float64
	for range TrendExactLimit {
		v := rng.Float64() * 1000
		values = append(values, v)
		s.Add(v)
	}
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		assert.Equal(t, exact(values, q), s.Quantile(q), "q %v at the limit", q)
	}
	assert.Len(t, s.exact, TrendExactLimit)
	v := rng.Float64() * 1000
	values = append(values, v)
	s.Add(v)
	assert.Nil(t, s.exact, "past the limit the values are dropped for the sketch")
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		assert.InEpsilon(t, exact(values, q), s.Quantile(q), 2*TrendAccuracy, "q %v past the limit", q)
	}
	sk := NewSketchTrendSink()
	sk.Add(1)
	sk.Add(2)
	assert.Nil(t, sk.exact, "a sketch trend keeps no values")
	assert.InEpsilon(t, 1.5, sk.Quantile(0.5), TrendAccuracy)

	// Sketch does early what the limit does: the same bins as a sink that
	// went past it, so that the two merge into the same percentiles.
	early, late := NewTrendSink(), NewTrendSink()
	for _, v := range values[:100] {
		early.Add(v)
	}
	early.Sketch()
	early.Sketch()
	assert.Nil(t, early.exact)
	assert.Equal(t, int64(100), early.Count())
	for _, v := range values[100:] {
		late.Add(v)
	}
	require.NoError(t, early.Merge(late))
	for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 1} {
		assert.Equal(t, s.Quantile(q), early.Quantile(q), "q %v", q)
	}
	for _, name := range []string{"min", "max", "avg", "count"} {
		want, _ := s.Value(Aggregation{Name: name}, 0)
		got, _ := early.Value(Aggregation{Name: name}, 0)
		assert.Equal(t, want, got, name)
	}
}
