package anomaly_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// endpoint adds an endpoint's per-second series (the name tag) to r.
func endpoint(r loadtest.Result, name string, reqs, failed, p95 []float64) loadtest.Result {
	tags := map[string]string{"name": name}
	r.Timeline.Series = append(r.Timeline.Series,
		loadtest.Series{Name: loadtest.SeriesRequests, Tags: tags, Values: reqs},
		loadtest.Series{Name: loadtest.SeriesFailedRate, Tags: tags, Values: failed},
		loadtest.Series{Name: loadtest.SeriesLatencyP95, Tags: tags, Values: p95})
	return r
}

// stepAt returns xs multiplied by f from point at on.
func stepAt(xs []float64, at int, f float64) []float64 {
	return scale(xs, func(i int, x float64) float64 {
		if i >= at {
			return x * f
		}
		return x
	})
}

func constantVUs(vus int64, d time.Duration) scenarios.Scenarios {
	return scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: vus, Duration: d}}
}

// findingOf returns the first finding of kind k, or fails.
func findingOf(t *testing.T, rep anomaly.Report, k anomaly.Kind) anomaly.Finding {
	t.Helper()
	i := slices.IndexFunc(rep.Findings, func(f anomaly.Finding) bool { return f.Kind == k })
	require.GreaterOrEqual(t, i, 0, "no %s in %s", k, rep.Summary)
	return rep.Findings[i]
}

// The gross-change screen: a several-fold latency rise that lasts is a
// finding wherever it is, with start and end from the data and the
// numbers of its message in its evidence.
func TestGrossLatencySteps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		n, at      int
		factor     float64
		start, end time.Duration
	}{
		{"30× at 6 s of a 15 s run", 15, 6, 30, 6 * time.Second, 15 * time.Second},
		{"12× at 8 s of 30 s", 30, 8, 12, 8 * time.Second, 30 * time.Second},
		{"3× at 3 s of 60 s", 60, 3, 3, 3 * time.Second, 60 * time.Second},
		{"4× at 52 s of 60 s", 60, 52, 4, 52 * time.Second, 60 * time.Second},
		{"5× at 7 s of a 10 s run", 10, 7, 5, 7 * time.Second, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p95 := stepAt(noisy(c.n, 5, 0.1, uint64(c.n)), c.at, c.factor)
			p50 := scale(p95, func(_ int, x float64) float64 { return x / 2 })
			res := withPlan(run(c.n, map[string][]float64{loadtest.SeriesVUs: constant(c.n, 20), loadtest.SeriesRequests: constant(c.n, 1000),
				loadtest.SeriesLatencyP95: p95, loadtest.SeriesLatencyP50: p50}), constantVUs(20, time.Duration(c.n)*time.Second))
			rep := anomaly.Analyze(res, nil, anomaly.Options{})
			f := findingOf(t, rep, anomaly.KindLatencyShift)
			assert.Equal(t, c.start, f.Start)
			assert.Equal(t, c.end, f.End)
			assert.InDelta(t, c.factor, f.Evidence["factor"], 0.3*c.factor)
			assert.Contains(t, f.Message, fmtMs(f.Evidence["baseline_ms"]))
			assert.Contains(t, f.Message, fmtMs(f.Evidence["observed_ms"]))
			assert.Equal(t, anomaly.SeverityHigh, f.Severity)
		})
	}
}

// A step on one endpoint of two is named, with what requests/s did at the
// same VUs; the other endpoint is not blamed.
func TestStepOnOneEndpoint(t *testing.T) {
	t.Parallel()
	const n = 20
	fast, slow := noisy(n, 5, 0.1, 1), stepAt(noisy(n, 5, 0.1, 2), 8, 40)
	reqs := scale(constant(n, 1300), func(i int, x float64) float64 {
		if i >= 8 {
			return 40
		}
		return x
	})
	res := run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 10), loadtest.SeriesRequests: reqs,
		loadtest.SeriesLatencyP95: scale(slow, func(i int, x float64) float64 { return max(x, fast[i]) }),
		loadtest.SeriesLatencyP50: scale(slow, func(i int, x float64) float64 { return (x + fast[i]) / 2 })})
	res = withPlan(res, constantVUs(10, n*time.Second))
	half := scale(reqs, func(_ int, x float64) float64 { return x / 2 })
	res = endpoint(res, "GET /fast", half, constant(n, 0), fast)
	res = endpoint(res, "GET /slow", half, constant(n, 0), slow)
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	f := findingOf(t, rep, anomaly.KindLatencyShift)
	assert.Equal(t, map[string]string{"name": "GET /slow"}, f.Tags)
	assert.Equal(t, 8*time.Second, f.Start)
	assert.Contains(t, f.Message, "GET /slow")
	assert.InDelta(t, 650, f.Evidence["rps_before"], 1)
	assert.InDelta(t, 20, f.Evidence["rps_after"], 1)
	assert.Contains(t, f.Message, "fell from 650 to 20 at a steady 10 VUs")
	for _, g := range rep.Findings {
		assert.NotEqual(t, "GET /fast", g.Tags["name"], g.Message)
	}
}

// A rise that is over within seconds is a spike, low when short; a
// several-fold one held longer that came back is a shift with its end; one that keeps climbing is a drift, with its onset from the data.
func TestSpikeAndDriftShapes(t *testing.T) {
	t.Parallel()
	const n = 40
	spike := noisy(n, 10, 0.05, 3)
	for i := 20; i < 24; i++ {
		spike[i] *= 4
	}
	episode := noisy(n, 10, 0.05, 5)
	for i := 12; i < 19; i++ {
		episode[i] *= 12
	}
	drift := scale(noisy(n, 10, 0.05, 4), func(i int, x float64) float64 {
		if i >= 14 {
			return x + 2*float64(i-14) // +2 ms a second from 14 s
		}
		return x
	})
	for _, c := range []struct {
		name  string
		p95   []float64
		kind  anomaly.Kind
		start time.Duration
		sev   anomaly.Severity
	}{
		{"4× for 4 s", spike, anomaly.KindLatencySpike, 20 * time.Second, anomaly.SeverityLow},
		{"12× for 7 s, then back", episode, anomaly.KindLatencyShift, 12 * time.Second, anomaly.SeverityHigh},
		{"+2 ms a second from 14 s", drift, anomaly.KindLatencyDrift, 14 * time.Second, anomaly.SeverityHigh},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 8), loadtest.SeriesRequests: constant(n, 500),
				loadtest.SeriesLatencyP95: c.p95}), constantVUs(8, n*time.Second))
			rep := anomaly.Analyze(res, nil, anomaly.Options{})
			require.Len(t, rep.Findings, 1, rep.Summary)
			f := rep.Findings[0]
			assert.Equal(t, c.kind, f.Kind)
			assert.InDelta(t, c.start.Seconds(), f.Start.Seconds(), 2)
			assert.Equal(t, c.sev, f.Severity)
			if c.kind == anomaly.KindLatencyShift {
				assert.Equal(t, 19*time.Second, f.End, "it ends where latency came back")
				assert.Contains(t, f.Message, "until 19.0 s")
			}
			if c.kind == anomaly.KindLatencyDrift {
				assert.InDelta(t, 2, f.Evidence["slope_ms_per_s"], 0.5)
				assert.Contains(t, f.Message, fmtMs(f.Evidence["slope_ms_per_s"])+" per second")
			}
		})
	}
}

// Every 5 s all requests wait 1 s: a stall, with its period and length.
func TestPeriodicStalls(t *testing.T) {
	t.Parallel()
	const n = 40
	p50, p95, mx, reqs := constant(n, 10), constant(n, 18), constant(n, 30), noisy(n, 800, 0.02, 5)
	for s := 6; s < n-2; s += 5 {
		reqs[s] *= 0.2 // the stall's second: few requests complete
		mx[s+1] = 1010 // they complete a second later, after 1 s
	}
	res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 8), loadtest.SeriesRequests: reqs,
		loadtest.SeriesLatencyP50: p50, loadtest.SeriesLatencyP95: p95, loadtest.SeriesLatencyMax: mx}), constantVUs(8, n*time.Second))
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	require.Len(t, rep.Findings, 1, rep.Summary)
	f := rep.Findings[0]
	assert.Equal(t, anomaly.KindLatencyStall, f.Kind)
	assert.Equal(t, 6*time.Second, f.Start)
	assert.InDelta(t, 5, f.Evidence["period_s"], 0.01)
	assert.InDelta(t, 1000, f.Evidence["stall_ms"], 1)
	assert.Equal(t, 7.0, f.Evidence["stalls"])
	assert.Contains(t, f.Message, "Every 5.0 s")
	assert.Contains(t, f.Message, "waited up to 1.00 s")
}

// Failures with an obvious cause say it.
func TestCauses(t *testing.T) {
	t.Parallel()
	const n = 30
	iterErrs := append(constant(12, 0), constant(n-12, 50)...)
	script := run(n, map[string][]float64{loadtest.SeriesIterations: constant(n, 100), loadtest.SeriesIterErrors: iterErrs,
		loadtest.SeriesRequests: constant(n, 200), loadtest.SeriesFailedRate: constant(n, 0)})
	script.IterationErrors = []loadtest.ErrorCount{{Message: "/home/ann/tests/shop.js:12:26: in default: SyntaxError: invalid character '<'", Count: 900}}

	refused := run(n, map[string][]float64{loadtest.SeriesRequests: constant(n, 300),
		loadtest.SeriesFailedRate: append(append(constant(10, 0), constant(5, 1)...), constant(n-15, 0)...)})
	for _, name := range []string{"GET /a", "GET /b"} {
		refused = endpoint(refused, name, constant(n, 150), append(append(constant(10, 0), constant(5, 1)...), constant(n-15, 0)...), constant(n, 5))
		refused.Endpoints = append(refused.Endpoints, loadtest.EndpointStats{Name: name, Requests: 4500, Failed: 750,
			Statuses: map[string]int64{"0": 750, "200": 3750}, Errors: map[string]int64{"1212": 750}})
	}

	down := run(n, map[string][]float64{loadtest.SeriesRequests: constant(n, 100), loadtest.SeriesFailedRate: constant(n, 1)})
	down.Endpoints = []loadtest.EndpointStats{{Name: "http://127.0.0.1:9/", Requests: 3000, Failed: 3000,
		Statuses: map[string]int64{"0": 3000}, Errors: map[string]int64{"1212": 3000}}}

	aborted := run(n, map[string][]float64{loadtest.SeriesIterations: constant(n, 10), loadtest.SeriesDropped: append(constant(n-5, 0), constant(5, 20)...)})
	aborted.Status, aborted.Abort = loadtest.StatusAborted, &loadtest.Abort{By: loadtest.AbortByScript, Reason: "test.abort()", After: 25 * time.Second}
	aborted.Config.Scenarios = scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 10, Iterations: 1000}}

	cases := []struct {
		name  string
		res   loadtest.Result
		kind  anomaly.Kind
		start time.Duration
		says  []string
		not   []anomaly.Kind
	}{
		{name: "a script that starts throwing", res: script, kind: anomaly.KindIterationErrors, start: 12 * time.Second,
			says: []string{"From 12.0 s to the end of the run, 900 of 1800 iterations (50 %) ended with an error", `"shop.js:12:26: in default: SyntaxError`}},
		{name: "refused on every endpoint for 5 s", res: refused, kind: anomaly.KindNetworkErrors, start: 10 * time.Second,
			says: []string{"until 15.0 s", "on every endpoint", "k6 error 1212 (connection refused"}, not: []anomaly.Kind{anomaly.KindErrorBurst}},
		{name: "an unreachable target", res: down, kind: anomaly.KindEarlyFailures, start: 0,
			says: []string{"100 % of the failures were k6 error 1212 (connection refused: nothing listened on the target's port) on http://127.0.0.1:9/"}},
		{name: "test.abort() in shared iterations", res: aborted, kind: anomaly.KindRunFailed, start: 0,
			not: []anomaly.Kind{anomaly.KindCoordinatedOmission}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(c.res, nil, anomaly.Options{})
			f := findingOf(t, rep, c.kind)
			assert.Equal(t, c.start, f.Start)
			for _, s := range c.says {
				assert.Contains(t, f.Message, s)
			}
			for _, k := range c.not {
				assert.NotContains(t, kinds(rep), k)
			}
		})
	}
}

// Against history: a move within the noise is not a regression, a real
// one is, worded by its direction.
func TestHistoryEffectSize(t *testing.T) {
	t.Parallel()
	withValues := func(start time.Time, p95, rate float64) loadtest.Result {
		r := run(60, nil)
		r.Start = start
		r.Metrics = map[string]loadtest.MetricSummary{
			"http_req_duration": {Values: map[string]float64{"p(95)": p95, "avg": 50}},
			"http_reqs":         {Values: map[string]float64{"rate": rate}},
		}
		return r
	}
	// Four identical-looking runs (a sketch quantises p95).
	var hist []loadtest.Result
	for i := range 4 {
		hist = append(hist, withValues(t0.Add(time.Duration(i)*time.Hour), 100, 500))
	}
	now := t0.Add(10 * time.Hour)
	for _, c := range []struct {
		name      string
		p95, rate float64
		says      []string
	}{
		{"4 % slower: within the noise", 104, 500, nil},
		{"30 % slower", 130, 500, []string{"The p95 latency rose 30 % against previous runs (100 ms → 130 ms"}},
		{"throughput 21 % lower", 100, 395, []string{"The throughput fell 21 % against previous runs (500 req/s → 395 req/s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(withValues(now, c.p95, c.rate), hist, anomaly.Options{})
			var msgs []string
			for _, f := range rep.Findings {
				msgs = append(msgs, f.Message)
			}
			require.Len(t, msgs, len(c.says), "%q", msgs)
			for i, s := range c.says {
				assert.Contains(t, msgs[i], s)
			}
		})
	}
}

// When other processes take the host's CPUs, the generator's goroutines
// wait to run: a latency rise that comes and goes with that wait, or that
// was measured while the generator waited all along, is not blamed on the
// target.
func TestHostContention(t *testing.T) {
	t.Parallel()
	const n = 40
	for _, c := range []struct {
		name         string
		sched        func(i int) float64
		start, end   time.Duration
		says, starts string
	}{
		{"a rise that comes and goes with the wait", func(i int) float64 {
			if i >= 20 && i < 25 {
				return 40
			}
			return 0.3
		}, 20 * time.Second, 25 * time.Second, "waited up to 40 ms to run while the host's CPUs were 100 % busy and the generator itself used 5 %",
			"From 20.0 s to 25.0 s the load generator was starved of CPU"},
		// A host busy all run long: the wait is as usual in the run, but
		// a large share of what was measured.
		{"a rise measured while the generator waited all along", func(i int) float64 { return 30 + float64(i%3) },
			0, n * time.Second, "waited up to 32 ms to run", "From 0.0 s to 40.0 s the load generator was starved of CPU"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p95 := noisy(n, 10, 0.05, 6)
			sched := make([]float64, n)
			for i := range sched {
				sched[i] = c.sched(i)
			}
			for i := 20; i < 25; i++ {
				p95[i] *= 5
			}
			res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 8), loadtest.SeriesRequests: constant(n, 500),
				loadtest.SeriesLatencyP95: p95, loadtest.SeriesGeneratorSched: sched, loadtest.SeriesGeneratorCPU: constant(n, 5),
				loadtest.SeriesHostCPU: constant(n, 100)}), constantVUs(8, n*time.Second))
			rep := anomaly.Analyze(res, nil, anomaly.Options{})
			require.Equal(t, []anomaly.Kind{anomaly.KindHostContention}, kinds(rep), rep.Summary)
			f := rep.Findings[0]
			assert.Equal(t, anomaly.BlameGenerator, f.Target)
			assert.Equal(t, c.start, f.Start)
			assert.Equal(t, c.end, f.End)
			assert.Contains(t, f.Message, c.says)
			assert.Contains(t, f.Message, c.starts)
			assert.Contains(t, f.Message, "not blamed on the target")
			assert.Contains(t, rep.Summary, "starved of CPU by other processes")
		})
	}
}

// fmtMs is the package's formatting of milliseconds, for matching
// messages with their evidence.
func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}
