package anomaly_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// run builds a Result of n seconds with the given untagged series.
func run(n int, series map[string][]float64) loadtest.Result {
	r := loadtest.Result{Name: "t", Start: t0, End: t0.Add(time.Duration(n) * time.Second), Duration: time.Duration(n) * time.Second,
		Status: loadtest.StatusPassed, Timeline: loadtest.Timeline{Start: t0, Step: time.Second}}
	for _, name := range sortedKeys(series) {
		r.Timeline.Series = append(r.Timeline.Series, loadtest.Series{Name: name, Values: series[name]})
	}
	return r
}

func sortedKeys(m map[string][]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func constant(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// noisy returns n values around v with relative noise sd, from seed.
func noisy(n int, v, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = v * math.Exp(sd*rng.NormFloat64())
	}
	return out
}

func kinds(rep anomaly.Report) []anomaly.Kind {
	out := []anomaly.Kind{}
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}

func TestAnalyzeRules(t *testing.T) {
	t.Parallel()
	withMetrics := func(r loadtest.Result, m map[string]loadtest.MetricSummary) loadtest.Result { r.Metrics = m; return r }
	failed := func(rate float64) map[string]loadtest.MetricSummary {
		return map[string]loadtest.MetricSummary{"http_req_failed": {Values: map[string]float64{"rate": rate, "passes": rate * 1000, "fails": (1 - rate) * 1000}}}
	}
	th, err := metrics.ParseThreshold("p(95)<200")
	require.NoError(t, err)
	cases := []struct {
		name     string
		res      loadtest.Result
		want     []anomaly.Kind
		severity anomaly.Severity
	}{
		{name: "clean run", res: run(120, nil), want: []anomaly.Kind{}, severity: anomaly.SeverityNone},
		{name: "errored", res: func() loadtest.Result { r := run(10, nil); r.Status = loadtest.StatusErrored; return r }(),
			want: []anomaly.Kind{anomaly.KindRunFailed}, severity: anomaly.SeverityCritical},
		{name: "aborted by script", res: func() loadtest.Result {
			r := run(10, nil)
			r.Status, r.Abort = loadtest.StatusAborted, &loadtest.Abort{By: loadtest.AbortByScript, Reason: "bad data", After: 5 * time.Second}
			return r
		}(), want: []anomaly.Kind{anomaly.KindRunFailed}, severity: anomaly.SeverityCritical},
		{name: "3 % errors: below the rule", res: withMetrics(run(60, nil), failed(0.03)), want: []anomaly.Kind{}, severity: anomaly.SeverityNone},
		{name: "7 % errors: medium", res: withMetrics(run(60, nil), failed(0.07)), want: []anomaly.Kind{anomaly.KindErrorRate}, severity: anomaly.SeverityMedium},
		{name: "12 % errors: high", res: withMetrics(run(60, nil), failed(0.12)), want: []anomaly.Kind{anomaly.KindErrorRate}, severity: anomaly.SeverityHigh},
		{name: "p95 2.5 s", res: withMetrics(run(60, nil), map[string]loadtest.MetricSummary{
			"http_req_duration": {Values: map[string]float64{"p(95)": 2500, "avg": 900}}}),
			want: []anomaly.Kind{anomaly.KindHighLatency}, severity: anomaly.SeverityMedium},
		{name: "failed and empty thresholds", res: func() loadtest.Result {
			r := run(60, nil)
			r.Thresholds = []metrics.Verdict{{Metric: "http_req_duration", Threshold: th, Status: metrics.Failed, Observed: 350},
				{Metric: "http_req_duration{name:x}", Threshold: th, Status: metrics.NoData}}
			return r
		}(), want: []anomaly.Kind{anomaly.KindThresholdFailed, anomaly.KindThresholdNoData}, severity: anomaly.SeverityHigh},
		{name: "too many URLs", res: func() loadtest.Result { r := run(60, nil); r.DistinctNames = 800; return r }(),
			want: []anomaly.Kind{anomaly.KindTooManyURLs}, severity: anomaly.SeverityMedium},
		{name: "generator CPU 95 % for 40 s", res: run(120, map[string][]float64{
			loadtest.SeriesGeneratorCPU: append(constant(60, 40), append(constant(40, 95), constant(20, 40)...)...)}),
			want: []anomaly.Kind{anomaly.KindGeneratorCPU}, severity: anomaly.SeverityHigh},
		{name: "generator CPU 95 % for 20 s only", res: run(120, map[string][]float64{
			loadtest.SeriesGeneratorCPU: append(constant(60, 40), append(constant(20, 95), constant(40, 40)...)...)}),
			want: []anomaly.Kind{}, severity: anomaly.SeverityNone},
		{name: "generator memory 3 GiB from 60 s", res: run(120, map[string][]float64{
			loadtest.SeriesGeneratorRSS: append(constant(60, 1<<30), constant(60, 3<<30)...)}),
			want: []anomaly.Kind{anomaly.KindGeneratorMemory}, severity: anomaly.SeverityMedium},
		{name: "generator memory 1 GiB", res: run(120, map[string][]float64{loadtest.SeriesGeneratorRSS: constant(120, 1<<30)}),
			want: []anomaly.Kind{}, severity: anomaly.SeverityNone},
		{name: "half the first requests fail", res: run(120, map[string][]float64{
			loadtest.SeriesRequests: constant(120, 50), loadtest.SeriesFailedRate: append(constant(10, 0.5), constant(110, 0)...)}),
			want: []anomaly.Kind{anomaly.KindEarlyFailures}, severity: anomaly.SeverityHigh},
		{name: "dropped iterations", res: run(60, map[string][]float64{
			loadtest.SeriesIterations: constant(60, 100), loadtest.SeriesDropped: append(constant(30, 0), constant(30, 10)...)}),
			want: []anomaly.Kind{anomaly.KindCoordinatedOmission}, severity: anomaly.SeverityMedium},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(c.res, nil, anomaly.Options{})
			assert.ElementsMatch(t, c.want, kinds(rep), rep.Summary)
			assert.Equal(t, c.severity, rep.Severity)
			assert.NotEmpty(t, rep.Summary)
			for _, f := range rep.Findings {
				assert.NotEmpty(t, f.ID)
				assert.NotEmpty(t, f.Message)
				assert.LessOrEqual(t, f.Start, f.End)
			}
		})
	}
}

// TestAnalyzeTimeSeries checks the schedule-aware detectors on small
// hand-made runs: a ramp whose latency grows with load is not a problem;
// a step at constant load is.
func TestAnalyzeTimeSeries(t *testing.T) {
	t.Parallel()
	const n = 600
	ramp := make([]float64, n)
	rampLat := noisy(n, 50, 0.05, 1)
	for i := range ramp {
		ramp[i] = math.Ceil(float64(i+1) / 6) // 1 → 100 VUs
		rampLat[i] *= 1 + ramp[i]/50
	}
	step := noisy(n, 50, 0.05, 2)
	for i := 300; i < n; i++ {
		step[i] *= 1.3
	}
	burstReqs, burstFail := constant(n, 100), constant(n, 0.001)
	for i := 400; i < 430; i++ {
		burstFail[i] = 0.08
	}
	// 50 → 100 → 50 VUs; latency 40 % higher in the second 50-VU stage.
	stages := append(append(constant(200, 50), constant(200, 100)...), constant(200, 50)...)
	degraded := noisy(n, 50, 0.05, 3)
	for i := 400; i < n; i++ {
		degraded[i] *= 1.4
	}
	riseFail := append(constant(400, 0.01), constant(200, 0.2)...)
	cases := []struct {
		name   string
		series map[string][]float64
		want   []anomaly.Kind
		at     time.Duration // start of the first finding, when any
		says   string        // in the first finding's message, when set
	}{
		{name: "latency rising with a ramp", series: map[string][]float64{loadtest.SeriesVUs: ramp, loadtest.SeriesLatencyP95: rampLat},
			want: []anomaly.Kind{}},
		{name: "30 % latency step at constant load", series: map[string][]float64{loadtest.SeriesVUs: constant(n, 50), loadtest.SeriesLatencyP95: step},
			want: []anomaly.Kind{anomaly.KindLatencyShift}, at: 300 * time.Second},
		{name: "8 % failures for 30 s", series: map[string][]float64{loadtest.SeriesVUs: constant(n, 50),
			loadtest.SeriesRequests: burstReqs, loadtest.SeriesFailedRate: burstFail},
			want: []anomaly.Kind{anomaly.KindErrorBurst}, at: 400 * time.Second},
		{name: "latency higher when the load comes back to 50 VUs", series: map[string][]float64{loadtest.SeriesVUs: stages, loadtest.SeriesLatencyP95: degraded},
			want: []anomaly.Kind{anomaly.KindLatencyDegradation}, at: 415 * time.Second, says: "at the same load"}, // after the 15 s settle time
		{name: "failures rise to 20 % and stay", series: map[string][]float64{loadtest.SeriesVUs: constant(n, 50),
			loadtest.SeriesRequests: constant(n, 100), loadtest.SeriesFailedRate: riseFail},
			want: []anomaly.Kind{anomaly.KindFailureIncrease, anomaly.KindErrorRate}, at: 400 * time.Second, says: "it was 1.0 % before"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(run(n, c.series), nil, anomaly.Options{})
			require.Equal(t, c.want, kinds(rep), rep.Summary)
			assert.Equal(t, "vus", rep.Schedule)
			if len(c.want) > 0 {
				assert.InDelta(t, c.at.Seconds(), rep.Findings[0].Start.Seconds(), 5)
				assert.Contains(t, rep.Findings[0].Message, c.says)
			}
		})
	}
}

func TestAnalyzeHistory(t *testing.T) {
	t.Parallel()
	p95 := func(v float64, day int) loadtest.Result {
		r := run(60, nil)
		r.Start = t0.AddDate(0, 0, day)
		r.Metrics = map[string]loadtest.MetricSummary{"http_req_duration": {Values: map[string]float64{"p(95)": v, "avg": v / 2}}}
		return r
	}
	var hist []loadtest.Result
	for i, v := range []float64{100, 102, 98, 101, 99, 100} {
		hist = append(hist, p95(v, i))
	}
	cases := []struct {
		name string
		cur  float64
		want []anomaly.Kind
	}{
		{name: "30 % slower than six runs", cur: 130, want: []anomaly.Kind{anomaly.KindRegression, anomaly.KindRegression}},
		{name: "within the noise", cur: 101, want: []anomaly.Kind{}},
		{name: "faster is no regression", cur: 70, want: []anomaly.Kind{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(p95(c.cur, 10), hist, anomaly.Options{})
			assert.Equal(t, c.want, kinds(rep), rep.Summary)
		})
	}

	// Twelve runs at 100 ms, then four at 130 ms: the current run is no
	// regression against that history, but the history itself changed
	// three runs ago, which an Otava-style change point reports.
	t.Run("history stepped three runs ago", func(t *testing.T) {
		t.Parallel()
		var steps []loadtest.Result
		for i, v := range []float64{100, 102, 98, 101, 99, 100, 101, 99, 100, 102, 98, 100, 130, 131, 129, 130} {
			steps = append(steps, p95(v, i))
		}
		rep := anomaly.Analyze(p95(130, 20), steps[:len(steps)-1], anomaly.Options{})
		cps := []anomaly.Finding{}
		for _, f := range rep.Findings {
			if f.Kind == anomaly.KindHistoryChangePoint {
				cps = append(cps, f)
			}
		}
		assert.NotContains(t, kinds(rep), anomaly.KindRegression, rep.Summary)
		var got []string
		for _, f := range cps {
			got = append(got, f.Metric)
			assert.Equal(t, 3.0, f.Evidence["runs_ago"], f.Metric)
			assert.InDelta(t, 0.30, f.Evidence["change"], 0.02, f.Metric)
			assert.Equal(t, anomaly.SeverityHigh, f.Severity, f.Metric)
		}
		assert.ElementsMatch(t, []string{"http_req_duration.p95", "http_req_duration.avg"}, got, rep.Summary)
	})
}

// TestAnalyzeDeterministic: the same Result gives the same Report, byte
// for byte, and the Report survives a JSON round trip.
func TestAnalyzeDeterministic(t *testing.T) {
	t.Parallel()
	res := synth.Generate(synth.Spec{Kind: synth.ErrorBurst, Seed: 7, Size: 0.05}).Result
	a, err := json.Marshal(anomaly.Analyze(res, nil, anomaly.Options{}))
	require.NoError(t, err)
	b, err := json.Marshal(anomaly.Analyze(res, nil, anomaly.Options{}))
	require.NoError(t, err)
	assert.JSONEq(t, string(a), string(b))
	var back anomaly.Report
	require.NoError(t, json.Unmarshal(a, &back))
	require.NotEmpty(t, back.Findings)
	assert.Equal(t, anomaly.KindErrorBurst, back.Findings[0].Kind)
	assert.Contains(t, string(a), `"severity":"`)
}

func TestSeverityText(t *testing.T) {
	t.Parallel()
	for s := anomaly.SeverityNone; s <= anomaly.SeverityCritical; s++ {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back anomaly.Severity
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
	}
	var s anomaly.Severity
	assert.Error(t, s.UnmarshalText([]byte("urgent")))
	_, err := anomaly.Severity(9).MarshalText()
	assert.Error(t, err)
}

// BenchmarkAnalyzeHour analyses a one-hour run with 20 per-second series
// and 4 endpoints with their own 3 (the target: under 50 ms).
func BenchmarkAnalyzeHour(b *testing.B) {
	res := synth.Generate(synth.Spec{Kind: synth.Null, Seed: 1, Duration: time.Hour}).Result
	if len(res.Timeline.Series) != 20 || res.Timeline.Len() < 3600 {
		b.Fatalf("want 20 series of an hour, got %d of %d s", len(res.Timeline.Series), res.Timeline.Len())
	}
	n := res.Timeline.Len()
	for e := range 4 {
		tags := map[string]string{"name": fmt.Sprintf("GET /api/%d", e)}
		reqs, p95 := res.Timeline.Find(loadtest.SeriesRequests, nil).Values, res.Timeline.Find(loadtest.SeriesLatencyP95, nil).Values
		failed := noisy(n, 0.001, 0.5, uint64(e))
		lat := noisy(n, 1, 0.1, uint64(10+e))
		share := make([]float64, n)
		for i := range n {
			share[i] = reqs[i] / 4
			lat[i] *= p95[i]
		}
		res.Timeline.Series = append(res.Timeline.Series, loadtest.Series{Name: loadtest.SeriesRequests, Tags: tags, Values: share},
			loadtest.Series{Name: loadtest.SeriesFailedRate, Tags: tags, Values: failed},
			loadtest.Series{Name: loadtest.SeriesLatencyP95, Tags: tags, Values: lat})
	}
	b.ReportAllocs()
	for b.Loop() {
		anomaly.Analyze(res, nil, anomaly.Options{})
	}
}

// BenchmarkAnalyzeHourRamp analyses a one-hour breakpoint ramp whose
// throughput levels off halfway: the knee and the throughput-limit
// insight scan every point of the ramp.
func BenchmarkAnalyzeHourRamp(b *testing.B) {
	const n = 3600
	vus := make([]float64, n)
	for i := range vus {
		vus[i] = math.Ceil(float64(i+1) / 6) // 1 → 600 VUs
	}
	rps := noisy(n, 1, 0.03, 9)
	p95 := noisy(n, 40, 0.05, 10)
	for i, v := range vus {
		rps[i] *= min(10*v, 3000)
		p95[i] *= max(1, v/300)
	}
	res := run(n, map[string][]float64{loadtest.SeriesVUs: vus, loadtest.SeriesRequests: rps, loadtest.SeriesLatencyP95: p95})
	if rep := anomaly.Analyze(res, nil, anomaly.Options{}); len(rep.Findings) != 1 || rep.Findings[0].Kind != anomaly.KindThroughputLimit {
		b.Fatalf("want one throughput limit, got %s", rep.Summary)
	}
	b.ReportAllocs()
	for b.Loop() {
		anomaly.Analyze(res, nil, anomaly.Options{})
	}
}
