package anomaly_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// Shapes the held-out matrix of real runs found the detectors blind to
// (anomaly/testdata/faults/heldout.json), in synthetic form.

// Stalls of one endpoint of three, the others serving as usual: named
// after that endpoint, whether the overall series shows them or not.
func TestStallOnOneEndpoint(t *testing.T) {
	t.Parallel()
	const n = 34
	p50, p95, mx, reqs := constant(n, 8), noisy(n, 13, 0.05, 1), noisy(n, 25, 0.1, 2), noisy(n, 150, 0.01, 3)
	stalled := noisy(n, 12, 0.05, 4)
	for s := 16; s < n-3; s += 3 {
		p95[s], mx[s], stalled[s] = 870, 998, 940 // a second's worth of the endpoint's requests waited 1 s
	}
	res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 20), loadtest.SeriesRequests: reqs,
		loadtest.SeriesLatencyP50: p50, loadtest.SeriesLatencyP95: p95, loadtest.SeriesLatencyMax: mx}),
		scenarios.Scenarios{"default": scenarios.ConstantArrivalRate{Rate: 50, Duration: n * time.Second, PreAllocatedVUs: 20}})
	res = endpoint(res, "GET /a", constant(n, 50), constant(n, 0), noisy(n, 12, 0.05, 5))
	res = endpoint(res, "GET /b", constant(n, 50), constant(n, 0), noisy(n, 12, 0.05, 6))
	res = endpoint(res, "GET /slow", constant(n, 50), constant(n, 0), stalled)
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	f := findingOf(t, rep, anomaly.KindLatencyStall)
	assert.Equal(t, map[string]string{"name": "GET /slow"}, f.Tags)
	assert.Equal(t, 16*time.Second, f.Start)
	assert.InDelta(t, 3, f.Evidence["period_s"], 0.01)
	assert.Contains(t, f.Message, "all requests to GET /slow stalled")
}

// A step late in a short run whose slowest requests cross the stall
// threshold now and then is a step, not stalls: between stalls latency
// comes back, after a step it does not.
func TestStepIsNotStalls(t *testing.T) {
	t.Parallel()
	const n = 12
	p95 := stepAt(noisy(n, 15, 0.05, 1), 7, 9)
	mx := scale(p95, func(i int, x float64) float64 { return 1.3 * x })
	mx[2] = 265 // one slow request early on
	mx[8] = 150 // the step's seconds straddle the threshold
	reqs := scale(noisy(n, 880, 0.02, 2), func(i int, x float64) float64 {
		if i >= 7 {
			return x / 6
		}
		return x
	})
	res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 8), loadtest.SeriesRequests: reqs,
		loadtest.SeriesLatencyP50: scale(p95, func(_ int, x float64) float64 { return x / 2 }), loadtest.SeriesLatencyP95: p95,
		loadtest.SeriesLatencyMax: mx}), constantVUs(8, n*time.Second))
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	assert.NotContains(t, kinds(rep), anomaly.KindLatencyStall, rep.Summary)
	f := findingOf(t, rep, anomaly.KindLatencyShift)
	assert.Equal(t, 7*time.Second, f.Start)
}

// A small step (+60 %) on one endpoint of three, below the screen's ratio:
// the statistical test finds it overall and names the endpoint that moved.
func TestSmallStepNamesItsEndpoint(t *testing.T) {
	t.Parallel()
	const n = 30
	slow := stepAt(noisy(n, 12, 0.04, 1), 12, 2)
	a, b := noisy(n, 12, 0.04, 2), noisy(n, 12, 0.04, 3)
	overall := scale(slow, func(i int, x float64) float64 { return max(x*0.9, a[i], b[i]) })
	res := withPlan(run(n, map[string][]float64{loadtest.SeriesVUs: constant(n, 6), loadtest.SeriesRequests: constant(n, 600),
		loadtest.SeriesLatencyP95: overall, loadtest.SeriesLatencyP50: scale(overall, func(_ int, x float64) float64 { return x / 2 })}),
		constantVUs(6, n*time.Second))
	res = endpoint(res, "GET /a", constant(n, 200), constant(n, 0), a)
	res = endpoint(res, "GET /b", constant(n, 200), constant(n, 0), b)
	res = endpoint(res, "GET /slow", constant(n, 200), constant(n, 0), slow)
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	f := findingOf(t, rep, anomaly.KindLatencyShift)
	assert.Equal(t, map[string]string{"name": "GET /slow"}, f.Tags, f.Message)
	assert.InDelta(t, 12, f.Start.Seconds(), 1)
	assert.InDelta(t, 1.0, f.Evidence["endpoint_change"], 0.2)
	assert.Contains(t, f.Message, "it was GET /slow")
}

// A leak that begins while the load ramps up, and keeps growing once it
// holds, is a leak; memory that grows with the ramp and levels off with
// the load is not.
func TestLeakOverRamp(t *testing.T) {
	t.Parallel()
	const n, ramp = 34, 21
	plan := scenarios.Scenarios{"default": scenarios.RampingArrivalRate{StartRate: 60, PreAllocatedVUs: 20,
		Stages: []scenarios.Stage{{Duration: ramp * time.Second, Target: 260}, {Duration: (n - ramp) * time.Second, Target: 260}}}}
	reqs := scale(constant(n, 0), func(i int, _ float64) float64 { return 60 + 200*min(1, float64(i)/ramp) })
	rss := func(leak bool) []float64 {
		return scale(noisy(n, 1, 0.003, 7), func(i int, x float64) float64 {
			m := 34e6 + 2e6*min(1, float64(i)/ramp) // connections the ramp opened
			if leak && i >= 9 {
				for j := 9; j <= i; j++ {
					m += reqs[j] * 6000 // 6 KB a request
				}
			}
			return x * m
		})
	}
	for _, c := range []struct {
		name string
		leak bool
	}{{"leak from 9 s", true}, {"memory of the ramp", false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := withPlan(run(n, map[string][]float64{loadtest.SeriesRequests: reqs, loadtest.SeriesTargetRSS: rss(c.leak)}), plan)
			rep := anomaly.Analyze(res, nil, anomaly.Options{})
			if !c.leak {
				assert.NotContains(t, kinds(rep), anomaly.KindMemoryLeak, rep.Summary)
				return
			}
			f := findingOf(t, rep, anomaly.KindMemoryLeak)
			require.Equal(t, anomaly.BlameTarget, f.Target)
			assert.Contains(t, f.Message, "while the load ramped up and then held")
			assert.Less(t, f.Start, time.Duration(ramp)*time.Second, "it began in the ramp")
		})
	}
}
