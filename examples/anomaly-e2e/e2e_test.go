package anomalye2e_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
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
// stress test or `loadlens demo` runs, and 25 s at 4 VUs, as a CI load
// test. Every request waits 50–80 ms at the target, so the rates stay
// at a hundred or two per second (three at the healthy ramp's top): the
// generator and the target share one process on two cores with other
// tests (and, under .ci/busy, two CPU hogs), and the fewer requests they
// serve the less they wait to run.
const (
	rampVUs     = 24
	rampFor     = 20 * time.Second
	holdFor     = 5 * time.Second
	constVUs    = 4
	constFor    = 25 * time.Second
	latency     = 50 * time.Millisecond // constant loads: the healthy answer time
	degradeBy   = 4.0                   // degrade: latency × 4 + 20 ms, 150 ms more per request
	faultAfter  = 12 * time.Second      // degrade: the latency step, from the target's start
	burstAfter  = 8 * time.Second       // errors: the burst, from the target's start
	burstFor    = 8 * time.Second
	slots, hold = 8, 80 * time.Millisecond // saturate: 8 slots × 80 ms = 100 req/s
)

// starvedIn returns the median of the generator's scheduling latency (its
// goroutines' p99 wait to run, ms) over [from, to) of the run, and whether
// it was a quarter of the median latency measured then or more: a
// generator starved of CPU by other processes, whose timings and
// throughput are then its own as much as the target's.
func starvedIn(t *testing.T, res loadtest.Result, from, to time.Duration) (waitMs float64, starved bool) {
	t.Helper()
	sched, p50 := res.Timeline.Find(loadtest.SeriesGeneratorSched, nil), res.Timeline.Find(loadtest.SeriesLatencyP50, nil)
	require.NotNil(t, sched, "the generator measures its scheduling latency")
	require.NotNil(t, p50)
	var waits, lats []float64
	for i := int(from / res.Timeline.Step); i < int(to/res.Timeline.Step) && i < len(sched.Values) && i < len(p50.Values); i++ {
		if w, l := sched.Values[i], p50.Values[i]; !math.IsNaN(w) && !math.IsNaN(l) {
			waits, lats = append(waits, w), append(lats, l)
		}
	}
	require.NotEmpty(t, waits)
	waitMs = median(waits)
	starved = waitMs >= 10 && waitMs >= 0.25*median(lats)
	t.Logf("generator's scheduling p99 %.1f ms (median over %s..%s) against a median latency of %.0f ms: starved %v",
		waitMs, from, to, median(lats), starved)
	return waitMs, starved
}

// beforeKnee returns, over the seconds of the ramp before the knee (from
// the third VU on), the median latency (s) and the median time a VU took
// per request (VUs / req/s, s).
func beforeKnee(t *testing.T, res loadtest.Result, knee time.Duration) (service, iteration float64) {
	t.Helper()
	vus, rps, p50 := res.Timeline.Find(loadtest.SeriesVUs, nil), res.Timeline.Find(loadtest.SeriesRequests, nil),
		res.Timeline.Find(loadtest.SeriesLatencyP50, nil)
	require.True(t, vus != nil && rps != nil && p50 != nil)
	var lats, iters []float64
	for i := 0; i < int(knee/res.Timeline.Step) && i < len(vus.Values) && i < len(rps.Values) && i < len(p50.Values); i++ {
		if v, r, l := vus.Values[i], rps.Values[i], p50.Values[i]; v >= 3 && r > 0 && !math.IsNaN(l) {
			lats, iters = append(lats, l/1000), append(iters, v/r)
		}
	}
	require.GreaterOrEqual(t, len(lats), 3, "seconds of the ramp before the knee")
	return median(lats), median(iters)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// blamedOnHost asserts that the analysis said the generator was starved
// over [from, to) and blamed none of kinds there on the target.
func blamedOnHost(t *testing.T, rep anomaly.Report, from, to time.Duration, kinds ...anomaly.Kind) {
	t.Helper()
	hosts := ofKind(rep, anomaly.KindHostContention)
	require.NotEmpty(t, hosts, "a starved generator is reported: %s", rep.Summary)
	covered := false
	for _, h := range hosts {
		assert.Equal(t, anomaly.BlameGenerator, h.Target)
		assert.Contains(t, h.Message, "the load generator was starved of CPU")
		covered = covered || h.Start < to && h.End > from
	}
	assert.True(t, covered, "host contention over %s..%s: %s", from, to, rep.Summary)
	for _, f := range ofKind(rep, kinds...) {
		assert.False(t, f.Start < to && f.End > from && f.Target == anomaly.BlameTarget,
			"%s blamed on the target while the generator was starved: %s", f.Kind, f.Message)
	}
}

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
	// The Result, for replaying Analyze over a run that failed its checks:
	// go test -artifacts -outputdir DIR keeps it.
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(t.ArtifactDir(), "result.json"), b, 0o644))
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

// faultsFound returns the findings of faultKinds in rep, less those on the
// generator's resident memory: that is this test process's, shared by the
// runs TestFaults makes in parallel and by their in-process targets (and,
// under the race detector, the detector's shadow memory), so it grows with
// the others' runs and measures none of them (a healthy run's "leak" of
// 76 MiB a minute, once in three busy passes).
func faultsFound(rep anomaly.Report) []anomaly.Finding {
	return slices.DeleteFunc(ofKind(rep, faultKinds...), func(f anomaly.Finding) bool {
		return f.Metric == loadtest.SeriesGeneratorRSS
	})
}

// TestFaults runs each fault profile and its healthy twin, in parallel
// (about 25 s in all). When other processes starve the generator of CPU
// over the part of the run a check reads (its scheduling latency a quarter
// of the latency it measured or more), the fault's numbers are the host's
// as much as the target's: the check is then that the analysis says so and
// blames nothing there on the target.
func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("saturate ramp: throughput limit at the slot count", func(t *testing.T) {
		t.Parallel()
		res, rep, _ := run(t, target.Config{Profile: target.Saturate, Slots: slots, Hold: hold}, rampPlan)
		// Each VU holds a slot back to back: throughput stops growing when
		// the VUs fill the slots, a third of the way up the ramp.
		kneeAt := rampFor * slots / rampVUs
		if _, starved := starvedIn(t, res, kneeAt-2*time.Second, rampFor); starved {
			blamedOnHost(t, rep, kneeAt, rampFor, anomaly.KindThroughputLimit, anomaly.KindLatencyShift, anomaly.KindLatencyDrift)
			return
		}
		fs := ofKind(rep, anomaly.KindThroughputLimit)
		require.Len(t, fs, 1, rep.Summary)
		f := fs[0]
		// Before the knee each request is served at once (service, the
		// median latency: the hold and, on a busy machine, the waits to
		// run) and each VU's iteration takes iteration (VUs per req/s:
		// service and the client's own time). By Little's law the slots
		// are full when VUs × service / iteration reach them, and the
		// plateau's requests in service, plateau × service, are the slots.
		// On an idle machine both are the slot count (service ≈ hold).
		service, iteration := beforeKnee(t, res, f.Start)
		knee := f.Evidence["knee_vus"]
		assert.InDelta(t, slots*iteration/service, knee, 0.3*slots, "knee VUs (service %.0f ms, iteration %.0f ms)", service*1000, iteration*1000)
		assert.InDelta(t, slots, f.Evidence["plateau_rps"]*service, 0.3*slots, "requests in service at the plateau (%.0f req/s × %.0f ms)",
			f.Evidence["plateau_rps"], service*1000)
		assert.LessOrEqual(t, f.Evidence["plateau_rps"], 1.15*float64(slots)/hold.Seconds(), "plateau req/s, at most %d slots / %s", slots, hold)
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
		assert.Empty(t, faultsFound(rep), rep.Summary)
	})
	t.Run("degrade at constant VUs: a latency step at the fault", func(t *testing.T) {
		t.Parallel()
		res, rep, fault := run(t, target.Config{Latency: latency, Profile: target.Degrade, DegradeFactor: degradeBy, FaultAfter: faultAfter}, constantPlan)
		wait, starved := starvedIn(t, res, fault, constFor)
		if starved {
			blamedOnHost(t, rep, fault, constFor, anomaly.KindLatencyShift, anomaly.KindLatencyDrift)
			return
		}
		fs := ofKind(rep, anomaly.KindLatencyShift)
		require.Len(t, fs, 1, rep.Summary)
		assert.InDelta(t, fault.Seconds(), fs[0].Start.Seconds(), 2, "step time")
		// 50 ms × 4 + 20 ms: 170 ms more per request. The generator's
		// own wait to run (several a request: its send, the answer's
		// wake-up, the target's in the same process) adds to either side
		// of the step, so the tolerance grows with the wait it measured.
		step := fs[0].Evidence["observed_ms"] - fs[0].Evidence["baseline_ms"]
		injected := latency.Seconds()*1000*(degradeBy-1) + target.DefaultDegradeAdd.Seconds()*1000
		assert.InDelta(t, injected, step, 40+3*wait, "latency after the step (%.0f ms) less latency before it (%.0f ms)",
			fs[0].Evidence["observed_ms"], fs[0].Evidence["baseline_ms"])
		assert.Greater(t, fs[0].Evidence["change"], 1.0, "relative change")
		assert.Empty(t, ofKind(rep, anomaly.KindThroughputLimit, anomaly.KindErrorBurst, anomaly.KindGeneratorCPU), rep.Summary)
	})
	t.Run("errors at constant VUs: a burst at the fault", func(t *testing.T) {
		t.Parallel()
		_, rep, fault := run(t, target.Config{Latency: latency, Profile: target.ErrorBurst, FaultAfter: burstAfter,
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
		_, rep, _ := run(t, target.Config{Latency: latency}, constantPlan)
		assert.Empty(t, faultsFound(rep), rep.Summary)
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
	const soakFor, soakVUs = 40 * time.Second, 6
	plan := func(url string) loadtest.Plan {
		return loadtest.Plan{Name: "soak", TestType: loadtest.TestSoak,
			Scenarios: scenarios.Scenarios{"soak": scenarios.ConstantVUs{VUs: soakVUs, Duration: soakFor}},
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
