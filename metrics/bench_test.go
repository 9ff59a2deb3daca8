package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func benchValues() []float64 {
	rng := rand.New(rand.NewPCG(1, 1))
	v := make([]float64, 1<<16)
	for i := range v {
		v[i] = rng.ExpFloat64()*50 + 0.1 // ms
	}
	return v
}

func BenchmarkTrendAdd(b *testing.B) {
	vals := benchValues()
	s := NewTrendSink()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(vals[i&(len(vals)-1)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Msamples/s")
}

func BenchmarkCounterAdd(b *testing.B) {
	s := &CounterSink{}
	b.ReportAllocs()
	for b.Loop() {
		s.Add(1)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Msamples/s")
}

// Recording through Totals, as the engine does: batches of samples with
// tags, a trend with a sub-metric, and a counter.
func BenchmarkTotalsAdd(b *testing.B) {
	reg := NewRegistry()
	totals, err := NewTotals(DefaultSubmetrics()...)
	if err != nil {
		b.Fatal(err)
	}
	vals := benchValues()
	tags := NewTags("status", "200", "expected_response", "true", "method", "GET", "url", "http://127.0.0.1/")
	batch := make([]Sample, 1000)
	for i := range batch {
		batch[i] = Sample{Metric: reg.Get(HTTPReqDuration), Value: vals[i], Tags: tags}
		if i%2 == 1 {
			batch[i].Metric = reg.Get(HTTPReqs)
			batch[i].Value = 1
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		totals.Add(batch...)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds()/1e6, "Msamples/s")
	b.ReportMetric(0, "ns/op")
}

// p(95) over 10 M samples against the exact (sorted) value.
func BenchmarkTrendP95Of10M(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	const n = 10_000_000
	values := make([]float64, n)
	s := NewTrendSink()
	for i := range values {
		values[i] = math.Exp(rng.NormFloat64()) * 20 // log-normal latencies around 20 ms
		s.Add(values[i])
	}
	slices.Sort(values)
	r := 0.95 * (n - 1)
	lo := int(math.Floor(r))
	exact := values[lo] + (r-float64(lo))*(values[lo+1]-values[lo])
	var got float64
	b.ReportAllocs()
	for b.Loop() {
		got, _ = s.Value(Percentile(95), 0)
	}
	b.ReportMetric(math.Abs(got-exact)/exact*100, "%err")
}

func BenchmarkEvaluate(b *testing.B) {
	reg := NewRegistry()
	ths, err := ParseThresholds(map[string][]string{
		HTTPReqDuration: {"p(95)<500", "p(99)<1000", "avg<200"},
		HTTPReqFailed:   {"rate<0.01"},
		Checks:          {"rate>0.99"},
	})
	if err != nil {
		b.Fatal(err)
	}
	ev, err := NewEvaluator(ths, reg)
	if err != nil {
		b.Fatal(err)
	}
	totals, _ := NewTotals(ev.MetricKeys()...)
	for i, v := range benchValues() {
		totals.Add(Sample{Metric: reg.Get(HTTPReqDuration), Value: v},
			Sample{Metric: reg.Get(HTTPReqFailed), Value: float64(i % 2)})
	}
	b.ReportAllocs()
	for b.Loop() {
		totals.View(func(src SinkSource) { ev.Evaluate(src, time.Minute, false) })
	}
}
