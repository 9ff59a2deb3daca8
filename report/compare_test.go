package report_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
)

// noisyRun is a run of n seconds whose per-second p95 latency is lat ms and
// throughput rps, each with relative Gaussian noise, and whose failure
// rate is errRate. Summary values are the series' means.
func noisyRun(seed uint64, n int, lat, rps, errRate, noise float64) loadtest.Result {
	rng := rand.New(rand.NewPCG(seed, 1))
	mk := func(level float64) (loadtest.Values, float64) {
		vs := make(loadtest.Values, n)
		sum := 0.0
		for i := range vs {
			vs[i] = math.Max(0, level*(1+noise*rng.NormFloat64()))
			sum += vs[i]
		}
		return vs, sum / float64(n)
	}
	p95, p95Mean := mk(lat)
	reqs, rpsMean := mk(rps)
	fail, failMean := mk(errRate)
	return loadtest.Result{
		Name: "noisy", Start: t0, Duration: time.Duration(n) * time.Second, Status: loadtest.StatusPassed,
		Metrics: map[string]loadtest.MetricSummary{
			"http_req_duration": {Type: metrics.Trend, Values: map[string]float64{"p(95)": p95Mean}},
			"http_reqs":         {Type: metrics.Counter, Values: map[string]float64{"rate": rpsMean}},
			"http_req_failed":   {Type: metrics.Rate, Values: map[string]float64{"rate": failMean}},
		},
		Timeline: loadtest.Timeline{Start: t0, Step: time.Second, Series: []loadtest.Series{
			{Name: loadtest.SeriesLatencyP95, Values: p95},
			{Name: loadtest.SeriesRequests, Values: reqs},
			{Name: loadtest.SeriesFailedRate, Values: fail},
		}},
	}
}

func delta(t *testing.T, c report.Comparison, metric string) report.MetricDelta {
	t.Helper()
	for _, m := range c.Metrics {
		if m.Metric == metric && len(m.Tags) == 0 {
			return m
		}
	}
	require.Failf(t, "no such metric", "%s in %+v", metric, c.Metrics)
	return report.MetricDelta{}
}

func TestCompareMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     loadtest.Result
		cur      loadtest.Result
		metric   string
		want     report.Outcome
		test     string
		wantSig  bool
		overall  report.Outcome
		noChange bool // Change must be absent (base 0)
	}{
		{name: "same run", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(1, 120, 100, 50, 0, 0.1),
			metric: "http_req_duration.p95", want: report.OutcomeNoChange, test: report.TestWelchBlocks, overall: report.OutcomeNoChange},
		{name: "same level, other noise", base: noisyRun(1, 300, 100, 50, 0, 0.1), cur: noisyRun(2, 300, 100, 50, 0, 0.1),
			metric: "http_req_duration.p95", want: report.OutcomeNoChange, test: report.TestWelchBlocks},
		{name: "latency up 50 %", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(2, 120, 150, 50, 0, 0.1),
			metric: "http_req_duration.p95", want: report.OutcomeWorse, test: report.TestWelchBlocks, wantSig: true, overall: report.OutcomeWorse},
		{name: "latency down 30 %", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(2, 120, 70, 50, 0, 0.1),
			metric: "http_req_duration.p95", want: report.OutcomeBetter, test: report.TestWelchBlocks, wantSig: true, overall: report.OutcomeBetter},
		{name: "latency up 2 %: under the noise floor though significant", base: noisyRun(1, 600, 100, 50, 0, 0.01), cur: noisyRun(2, 600, 102, 50, 0, 0.01),
			metric: "http_req_duration.p95", want: report.OutcomeNoChange, test: report.TestWelchBlocks, wantSig: true},
		{name: "latency up 20 % in heavy noise over 30 s: not significant", base: noisyRun(3, 30, 100, 50, 0, 1.5), cur: noisyRun(4, 30, 120, 50, 0, 1.5),
			metric: "http_req_duration.p95", want: report.OutcomeNoChange, test: report.TestWelchBlocks},
		{name: "short runs use seconds", base: noisyRun(1, 10, 100, 50, 0, 0.05), cur: noisyRun(2, 10, 200, 50, 0, 0.05),
			metric: "http_req_duration.p95", want: report.OutcomeWorse, test: report.TestWelchSeconds, wantSig: true},
		{name: "throughput down 30 %", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(2, 120, 100, 35, 0, 0.1),
			metric: "http_reqs", want: report.OutcomeWorse, test: report.TestWelchBlocks, wantSig: true},
		{name: "errors from zero", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(2, 120, 100, 50, 0.05, 0.1),
			metric: "http_req_failed", want: report.OutcomeWorse, test: report.TestWelchBlocks, wantSig: true, noChange: true},
		{name: "errors from zero below the absolute floor", base: noisyRun(1, 120, 100, 50, 0, 0.1), cur: noisyRun(2, 120, 100, 50, 0.0005, 0),
			metric: "http_req_failed", want: report.OutcomeNoChange, test: report.TestWelchBlocks, wantSig: true, noChange: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := report.Compare(report.Run{Result: tt.base}, report.Run{Result: tt.cur}, report.CompareOptions{})
			d := delta(t, c, tt.metric)
			assert.Equal(t, tt.want, d.Outcome)
			assert.Equal(t, tt.test, d.Test)
			assert.Equal(t, tt.wantSig, d.Significant, "p=%v", d.PValue)
			require.NotNil(t, d.Base)
			require.NotNil(t, d.Current)
			assert.InDelta(t, *d.Current-*d.Base, *d.Delta, 1e-9)
			if tt.noChange {
				assert.Nil(t, d.Change)
			} else {
				assert.InDelta(t, *d.Delta / *d.Base, *d.Change, 1e-9)
			}
			if tt.overall != "" {
				assert.Equal(t, tt.overall, c.Outcome)
			}
			assert.Empty(t, c.NewFindings)
			assert.NotNil(t, c.NewFindings)
		})
	}
}

func TestCompareNoData(t *testing.T) {
	t.Parallel()
	base := noisyRun(1, 60, 100, 50, 0, 0.1)
	delete(base.Metrics, "http_req_duration")
	cur := noisyRun(2, 60, 100, 50, 0, 0.1)
	c := report.Compare(report.Run{Result: base}, report.Run{Result: cur}, report.CompareOptions{})
	d := delta(t, c, "http_req_duration.p95")
	assert.Equal(t, report.OutcomeNoData, d.Outcome)
	assert.Nil(t, d.Base)
	assert.NotNil(t, d.Current)
	for _, m := range c.Metrics {
		assert.NotEqual(t, "iterations", m.Metric, "a metric neither run has is left out")
	}
}

func TestCompareOptions(t *testing.T) {
	t.Parallel()
	base, cur := noisyRun(1, 600, 100, 50, 0, 0.01), noisyRun(2, 600, 102, 50, 0, 0.01)
	c := report.Compare(report.Run{Result: base}, report.Run{Result: cur}, report.CompareOptions{NoiseFloor: 0.01})
	assert.Equal(t, report.OutcomeWorse, delta(t, c, "http_req_duration.p95").Outcome, "a 2 %% change counts above a 1 %% floor")
	assert.InDelta(t, 0.01, c.NoiseFloor, 0)
	assert.InDelta(t, 0.05, c.Alpha, 0)
}

func TestCompareFindings(t *testing.T) {
	t.Parallel()
	f := func(kind anomaly.Kind, metric, name string, start time.Duration, sev anomaly.Severity) anomaly.Finding {
		var tags map[string]string
		if name != "" {
			tags = map[string]string{"name": name}
		}
		return anomaly.Finding{ID: string(kind) + "-" + start.String(), Kind: kind, Metric: metric, Tags: tags, Start: start, End: start + time.Minute, Severity: sev}
	}
	base := []anomaly.Finding{
		f(anomaly.KindLatencyShift, "http_req_duration.p95", "", time.Minute, anomaly.SeverityHigh),
		f(anomaly.KindErrorBurst, "http_req_failed", "GET /a", 0, anomaly.SeverityMedium),
	}
	cur := []anomaly.Finding{
		f(anomaly.KindLatencyShift, "http_req_duration.p95", "", 5*time.Minute, anomaly.SeverityHigh), // same key, other window: persists
		f(anomaly.KindErrorBurst, "http_req_failed", "GET /b", 0, anomaly.SeverityLow),                // other endpoint: new
	}
	r := noisyRun(1, 60, 100, 50, 0, 0.1)
	c := report.Compare(report.Run{Result: r, Findings: base}, report.Run{Result: r, Findings: cur}, report.CompareOptions{})
	require.Len(t, c.NewFindings, 1)
	assert.Equal(t, "GET /b", c.NewFindings[0].Tags["name"])
	require.Len(t, c.ResolvedFindings, 1)
	assert.Equal(t, "GET /a", c.ResolvedFindings[0].Tags["name"])
	assert.Equal(t, report.OutcomeBetter, c.Outcome, "a medium finding resolved, only a low one new")

	c = report.Compare(report.Run{Result: r}, report.Run{Result: r, Findings: cur}, report.CompareOptions{})
	assert.Empty(t, c.NewFindings, "without the base's findings nothing is called new")
}

func TestCompareThresholdsAndEndpoints(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, false)
	c := *in.Comparison
	require.Len(t, c.Thresholds, 3)
	assert.True(t, c.Thresholds[0].Changed())
	assert.Equal(t, "passed", c.Thresholds[0].Base)
	assert.Equal(t, "failed", c.Thresholds[0].Current)
	assert.False(t, c.Thresholds[1].Changed())
	assert.Equal(t, report.OutcomeWorse, c.Outcome, "a threshold newly fails")
	var endpoints int
	for _, m := range c.Metrics {
		if m.Tags["name"] != "" {
			endpoints++
		}
	}
	assert.Equal(t, 4, endpoints, "p95 and error rate of two endpoints")
}

func TestBaseline(t *testing.T) {
	t.Parallel()
	run := func(name string, daysAgo int, status loadtest.Status) loadtest.Result {
		return loadtest.Result{Name: name, Start: t0.Add(-time.Duration(daysAgo) * 24 * time.Hour), Status: status}
	}
	typed := func(r loadtest.Result, testType string) loadtest.Result { r.TestType = testType; return r }
	cur := typed(run("checkout", 0, loadtest.StatusPassed), "load")
	tests := []struct {
		name    string
		history []loadtest.Result
		want    int // index in history, -1 for none
	}{
		{name: "empty", want: -1},
		{name: "latest passed of the same name", history: []loadtest.Result{
			run("checkout", 3, loadtest.StatusPassed), run("checkout", 1, loadtest.StatusThresholdsFailed),
			run("checkout", 2, loadtest.StatusPassed), run("search", 1, loadtest.StatusPassed)}, want: 2},
		{name: "a failed run when none passed", history: []loadtest.Result{
			run("checkout", 3, loadtest.StatusAborted), run("checkout", 2, loadtest.StatusThresholdsFailed)}, want: 1},
		{name: "never the run itself or a later one", history: []loadtest.Result{cur, run("checkout", -1, loadtest.StatusPassed)}, want: -1},
		{name: "errored runs are no baseline", history: []loadtest.Result{run("checkout", 1, loadtest.StatusErrored)}, want: -1},
		{name: "the same test type", history: []loadtest.Result{
			run("checkout", 2, loadtest.StatusPassed), typed(run("checkout", 1, loadtest.StatusPassed), "stress")}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := report.Baseline(tt.history, cur)
			if tt.want < 0 {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.history[tt.want], got)
		})
	}
}

func TestComparisonTextAndJSONGolden(t *testing.T) {
	t.Parallel()
	c := *fixtureInput(t, false).Comparison
	var txt, js bytes.Buffer
	require.NoError(t, c.WriteText(&txt))
	golden(t, "compare.txt", txt.Bytes())
	require.NoError(t, report.WriteComparisonJSON(&js, c))
	golden(t, "compare.json", js.Bytes())
	assert.Contains(t, txt.String(), "Outcome: worse")
	assert.Contains(t, txt.String(), "New findings (1)")
}
