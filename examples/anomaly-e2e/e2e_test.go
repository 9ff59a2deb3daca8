package anomalye2e_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/target"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The loads: a 25 s ramp from 0 to 24 VUs with a 5 s hold, as a short
// stress test or `loadlens demo` runs, and 25 s at 6 VUs, as a CI load
// test. Every request waits tens of milliseconds at the target, so the
// rates stay in the hundreds per second: the generator, in the same
// process on two shared cores, is never what limits them.
const (
	rampVUs     = 24
	rampFor     = 20 * time.Second
	holdFor     = 5 * time.Second
	constVUs    = 6
	constFor    = 25 * time.Second
	faultAfter  = 12 * time.Second // degrade: the latency step, from the target's start
	burstAfter  = 8 * time.Second  // errors: the burst, from the target's start
	burstFor    = 8 * time.Second
	slots, hold = 8, 40 * time.Millisecond // saturate: 8 slots × 40 ms ≈ 200 req/s
)

func rampPlan(url string) loadtest.Plan {
	zero := int64(0)
	return loadtest.Plan{Name: "ramp", TestType: loadtest.TestStress,
		Scenarios: scenarios.Scenarios{"ramp": scenarios.RampingVUs{StartVUs: &zero, Stages: []scenarios.Stage{
			{Duration: rampFor, Target: rampVUs}, {Duration: holdFor, Target: rampVUs}}}},
		Target: &loadtest.Target{BaseURL: url, Endpoints: []loadtest.Endpoint{{Path: "/", Name: "root"}}},
	}
}

func constantPlan(url string) loadtest.Plan {
	return loadtest.Plan{Name: "constant", TestType: loadtest.TestLoad,
		Scenarios: scenarios.Scenarios{"constant": scenarios.ConstantVUs{VUs: constVUs, Duration: constFor}},
		Target:    &loadtest.Target{BaseURL: url, Endpoints: []loadtest.Endpoint{{Path: "/", Name: "root"}}},
	}
}

// run starts a demo target with cfg, runs the plan plan(url) builds
// against it and analyses the result. fault is when the target's fault
// starts as an offset from the run's start (the target counts from New).
func run(t *testing.T, cfg target.Config, plan func(url string) loadtest.Plan) (res loadtest.Result, rep anomaly.Report, fault time.Duration) {
	t.Helper()
	created := time.Now()
	srv, err := target.New(cfg)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context(), "127.0.0.1:0"))
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	res, err = loadtest.Run(t.Context(), plan(srv.URL()))
	require.NoError(t, err)
	require.NotEqual(t, loadtest.StatusErrored, res.Status)
	rep = anomaly.Analyze(res, nil, anomaly.Options{})
	t.Logf("%s against %s: %d requests in %s; %s", res.Name, cfg.Profile, int64(res.Metrics["http_reqs"].Values["count"]),
		res.Duration.Round(time.Millisecond), rep.Summary)
	for _, f := range rep.Findings {
		t.Logf("  %s %s %s..%s %v", f.Severity, f.Kind, f.Start.Round(time.Second), f.End.Round(time.Second), f.Evidence)
	}
	return res, rep, cfg.FaultAfter - res.Start.Sub(created)
}

func ofKind(rep anomaly.Report, kinds ...anomaly.Kind) []anomaly.Finding {
	var out []anomaly.Finding
	for _, f := range rep.Findings {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, f)
			}
		}
	}
	return out
}

// The kinds a healthy target must not show under the same loads.
var faultKinds = []anomaly.Kind{anomaly.KindThroughputLimit, anomaly.KindLatencyShift, anomaly.KindLatencyDrift,
	anomaly.KindLatencyDegradation, anomaly.KindErrorBurst, anomaly.KindFailureIncrease, anomaly.KindMemoryLeak,
	anomaly.KindGeneratorCPU}

// TestFaults runs each fault profile and its healthy twin, in parallel
// (about 25 s in all).
func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("saturate ramp: throughput limit at the slot count", func(t *testing.T) {
		t.Parallel()
		res, rep, _ := run(t, target.Config{Profile: target.Saturate, Slots: slots, Hold: hold}, rampPlan)
		fs := ofKind(rep, anomaly.KindThroughputLimit)
		require.Len(t, fs, 1, rep.Summary)
		f := fs[0]
		// Each VU holds a slot back to back: throughput stops growing when
		// the VUs fill the slots.
		knee := f.Evidence["knee_vus"]
		assert.InDelta(t, slots, knee, 0.3*slots, "knee VUs")
		capacity := float64(slots) / hold.Seconds()
		assert.InDelta(t, capacity, f.Evidence["plateau_rps"], 0.15*capacity, "plateau req/s")
		// The finding starts when the VUs reach the knee.
		vus := res.Timeline.Find(loadtest.SeriesVUs, nil)
		require.NotNil(t, vus)
		at := int(f.Start / res.Timeline.Step)
		require.Less(t, at, len(vus.Values))
		assert.InDelta(t, knee, vus.Values[at], 3, "VUs at the finding's start")
		assert.Equal(t, anomaly.BlameTarget, f.Target)
		assert.Greater(t, f.Evidence["p95_after_ms"], 1.5*f.Evidence["p95_before_ms"], "latency rose past the knee")
		assert.Contains(t, f.Message, "the target is saturated")
	})
	t.Run("healthy ramp: no limit", func(t *testing.T) {
		t.Parallel()
		// The same per-request time without slots: throughput keeps growing.
		_, rep, _ := run(t, target.Config{Latency: hold}, rampPlan)
		assert.Empty(t, ofKind(rep, faultKinds...), rep.Summary)
	})
	t.Run("degrade at constant VUs: a latency step at the fault", func(t *testing.T) {
		t.Parallel()
		_, rep, fault := run(t, target.Config{Latency: 20 * time.Millisecond, Profile: target.Degrade, FaultAfter: faultAfter}, constantPlan)
		fs := ofKind(rep, anomaly.KindLatencyShift)
		require.Len(t, fs, 1, rep.Summary)
		assert.InDelta(t, fault.Seconds(), fs[0].Start.Seconds(), 2, "step time")
		// 20 ms × 3 + 20 ms: 60 ms more per request. A busy machine adds
		// its own wait to both sides of the step (121 ms seen after it),
		// so the step is what is checked, not the p95 after it.
		step := fs[0].Evidence["observed_ms"] - fs[0].Evidence["baseline_ms"]
		assert.InDelta(t, 60, step, 25, "p95 after the step (%.0f ms) less p95 before it (%.0f ms)",
			fs[0].Evidence["observed_ms"], fs[0].Evidence["baseline_ms"])
		assert.Greater(t, fs[0].Evidence["change"], 1.0, "relative change")
		assert.Empty(t, ofKind(rep, anomaly.KindThroughputLimit, anomaly.KindErrorBurst, anomaly.KindGeneratorCPU), rep.Summary)
	})
	t.Run("errors at constant VUs: a burst at the fault", func(t *testing.T) {
		t.Parallel()
		_, rep, fault := run(t, target.Config{Latency: 20 * time.Millisecond, Profile: target.ErrorBurst, FaultAfter: burstAfter,
			FaultFor: burstFor}, constantPlan)
		fs := ofKind(rep, anomaly.KindErrorBurst)
		require.Len(t, fs, 1, rep.Summary)
		assert.InDelta(t, fault.Seconds(), fs[0].Start.Seconds(), 2, "burst start")
		assert.InDelta(t, burstFor.Seconds(), (fs[0].End - fs[0].Start).Seconds(), 3, "burst length")
		assert.InDelta(t, target.DefaultBurstErrorRate, fs[0].Evidence["observed"], 0.03, "failure rate in the burst")
		assert.Empty(t, ofKind(rep, anomaly.KindFailureIncrease, anomaly.KindLatencyShift), rep.Summary)
	})
	t.Run("healthy at constant VUs: nothing", func(t *testing.T) {
		t.Parallel()
		_, rep, _ := run(t, target.Config{Latency: 20 * time.Millisecond}, constantPlan)
		assert.Empty(t, ofKind(rep, faultKinds...), rep.Summary)
	})
}

// TestLeakSoak runs a 40 s soak against a leaking target and against a
// healthy one, one after the other, reading the target's own telemetry
// (its /metrics): the leak is found in target.rss_bytes within the run,
// and nothing in the healthy one. The target runs in the test's process,
// so its resident memory is the process's — which is why the two soaks do
// not overlap with each other or with other tests.
//
// Not under the race detector: its shadow memory grows with the heap and
// is handed back to the system in large pieces (RSS halves at once), so
// the process's resident memory no longer measures the target.
func TestLeakSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("two 40 s soaks; run without -short")
	}
	if raceDetector {
		t.Skip("resident memory under the race detector is the detector's")
	}
	const soakFor = 40 * time.Second
	plan := func(url string) loadtest.Plan {
		return loadtest.Plan{Name: "soak", TestType: loadtest.TestSoak,
			Scenarios: scenarios.Scenarios{"soak": scenarios.ConstantVUs{VUs: constVUs, Duration: soakFor}},
			Target:    &loadtest.Target{BaseURL: url, Endpoints: []loadtest.Endpoint{{Path: "/", Name: "root"}}},
			Telemetry: &loadtest.Telemetry{Prometheus: url + "/metrics"},
		}
	}
	// 6 VUs at 5 ms per request are ~1 000 req/s at most; 4 KiB each is
	// up to ~4 MiB/s, under the 512 MiB cap for the whole soak.
	const perRequest = 4 << 10
	for _, tc := range []struct {
		name  string
		cfg   target.Config
		leaks bool
	}{
		{"healthy", target.Config{Latency: 5 * time.Millisecond}, false},
		{"leak", target.Config{Latency: 5 * time.Millisecond, Profile: target.Leak, LeakPerRequest: perRequest, LeakMax: 512 << 20}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, rep, _ := run(t, tc.cfg, plan)
			leaks := ofKind(rep, anomaly.KindMemoryLeak)
			if !tc.leaks {
				assert.Empty(t, leaks, rep.Summary)
				return
			}
			require.Len(t, leaks, 1, rep.Summary)
			f := leaks[0]
			assert.Equal(t, anomaly.BlameTarget, f.Target)
			assert.Equal(t, loadtest.SeriesTargetRSS, f.Metric)
			// The retained bytes per minute: requests per second × 8 KiB
			// × 60, of which resident memory shows at least half.
			rate := res.Metrics["http_reqs"].Values["rate"]
			assert.Greater(t, f.Evidence["slope_bytes_per_min"], 0.5*rate*perRequest*60, "growth per minute")
			assert.Less(t, f.Start, soakFor/2, "found in the soak's first half")
			assert.False(t, math.IsNaN(f.Evidence["growth"]))
		})
	}
}
