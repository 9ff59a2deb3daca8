package anomaly_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// The per-second timeline of `loadlens demo`: 0 → 40 VUs in 20 s, 5 s at
// 40, against the demo target's saturate profile (8 slots × 10 ms).
var (
	demoVUs = []float64{0, 1, 3, 5, 8, 9, 12, 13, 16, 18, 20, 21, 24, 25, 28, 30, 31, 33, 35, 37, 39, 40, 40, 40, 40, 0}
	demoRPS = []float64{29, 169, 318, 453, 594, 715, 736, 740, 738, 744, 744, 736, 736, 744, 736, 733, 758, 746, 730, 762, 753, 741,
		750, 753, 741, 111}
	demoP95 = []float64{17.9, 16.2, 14.9, 15.5, 15.5, 16.4, 20.4, 22.3, 28.6, 32.2, 32.8, 33.5, 36.6, 43.3, 44.2, 45.9, 46.4, 54.2,
		56.0, 53.3, 56.0, 56.0, 55.5, 55.5, 56.0, 55.2}
)

func rampingVUs(stages ...scenarios.Stage) scenarios.Scenarios {
	zero := int64(0)
	return scenarios.Scenarios{"default": scenarios.RampingVUs{StartVUs: &zero, Stages: stages}}
}

func withPlan(r loadtest.Result, sc scenarios.Scenarios) loadtest.Result {
	r.Config.Scenarios = sc
	return r
}

// linearRamp returns VUs rising by step a second from step, capped at peak.
func linearRamp(n int, step, peak float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = min(peak, step*float64(i+1))
	}
	return out
}

func scale(xs []float64, f func(i int, x float64) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(i, x)
	}
	return out
}

// TestThroughputLimit checks the knee and k6's throughput-limit insight on
// short runs: one finding per episode, none where throughput follows the
// VUs or the plan sets the rate.
func TestThroughputLimit(t *testing.T) {
	t.Parallel()
	demoPlan := rampingVUs(scenarios.Stage{Duration: 20 * time.Second, Target: 40}, scenarios.Stage{Duration: 5 * time.Second, Target: 40})
	// 20 → 40 VUs in 20 s with throughput flat from the start: no bend to
	// see, a plateau all along.
	lateVUs := scale(linearRamp(25, 1, 20), func(_ int, x float64) float64 { return 19 + x })
	flatRPS := noisy(25, 740, 0.01, 3)
	// A ramp below capacity: throughput follows the VUs.
	nullVUs := linearRamp(30, 1.5, 40)
	nullRPS := scale(nullVUs, func(i int, v float64) float64 { return 18 * v * math.Exp(0.02*math.Sin(float64(7*i))) })
	cases := []struct {
		name     string
		res      loadtest.Result
		want     int     // throughput-limit findings
		method   string  // of the finding
		knee     float64 // knee VUs, ± 25 %
		contains []string
	}{
		{name: "demo: saturated at ≈10 VUs", res: withPlan(run(len(demoVUs), map[string][]float64{loadtest.SeriesVUs: demoVUs,
			loadtest.SeriesRequests: demoRPS, loadtest.SeriesLatencyP95: demoP95}), demoPlan),
			want: 1, method: "kneedle+plateau", knee: 10,
			contains: []string{"≈10 VUs (~740 req/s)", "rose to 40", "p95 rose from 16 ms to 56 ms: the target is saturated"}},
		{name: "demo without a plan", res: run(len(demoVUs), map[string][]float64{loadtest.SeriesVUs: demoVUs,
			loadtest.SeriesRequests: demoRPS}), want: 1, method: "kneedle+plateau", knee: 10,
			contains: []string{"the target reached its limit"}},
		{name: "already at the limit: the insight alone", res: run(25, map[string][]float64{loadtest.SeriesVUs: lateVUs,
			loadtest.SeriesRequests: flatRPS, loadtest.SeriesLatencyP95: scale(lateVUs, func(_ int, v float64) float64 { return v })}),
			want: 1, method: "plateau", knee: 20, contains: []string{"by ≈20 VUs", "p95 rose from 20 ms to 37 ms"}},
		{name: "flat throughput, flat latency: maybe not the target", res: run(25, map[string][]float64{loadtest.SeriesVUs: lateVUs,
			loadtest.SeriesRequests: flatRPS, loadtest.SeriesLatencyP95: constant(25, 12)}),
			want: 1, method: "plateau", knee: 20, contains: []string{"p95 did not rise with them", "rather than the target"}},
		{name: "throughput follows the VUs", res: run(30, map[string][]float64{loadtest.SeriesVUs: nullVUs,
			loadtest.SeriesRequests: nullRPS}), want: 0},
		{name: "arrival rate: VUs follow latency, throughput the plan", res: withPlan(run(25, map[string][]float64{loadtest.SeriesVUs: lateVUs,
			loadtest.SeriesRequests: flatRPS}), scenarios.Scenarios{"rate": scenarios.ConstantArrivalRate{Rate: 740, Duration: 25 * time.Second,
			PreAllocatedVUs: 20, MaxVUs: 40}}), want: 0},
		{name: "too few points: 8 s of ramp", res: run(8, map[string][]float64{loadtest.SeriesVUs: demoVUs[:8],
			loadtest.SeriesRequests: demoRPS[:8]}), want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(c.res, nil, anomaly.Options{})
			var fs []anomaly.Finding
			for _, f := range rep.Findings {
				if f.Kind == anomaly.KindThroughputLimit {
					fs = append(fs, f)
				}
			}
			require.Len(t, fs, c.want, rep.Summary)
			if c.want == 0 {
				return
			}
			f := fs[0]
			assert.Equal(t, c.method, f.Method)
			assert.InDelta(t, c.knee, f.Evidence["knee_vus"], 0.25*c.knee)
			for _, s := range c.contains {
				assert.Contains(t, f.Message, s)
			}
		})
	}
}

// TestShortRuns checks the steady-load detectors on runs of 30–60 s:
// strong problems are found where they happen, small changes are not
// problems.
func TestShortRuns(t *testing.T) {
	t.Parallel()
	const n = 30
	step := func(size float64) []float64 {
		return scale(noisy(n, 40, 0.05, 5), func(i int, x float64) float64 {
			if i >= 15 {
				return x * (1 + size)
			}
			return x
		})
	}
	burst := scale(constant(n, 0.001), func(i int, x float64) float64 {
		if i >= 10 && i < 18 {
			return 0.12
		}
		return x
	})
	// A 50 s soak: resident memory grows 3 MiB/s from 80 MiB, or warms up
	// by 30 MiB and levels off.
	const soak = 50
	leakRSS := scale(noisy(soak, 80<<20, 0.002, 6), func(i int, x float64) float64 { return x + 3<<20*float64(i) })
	warmRSS := scale(noisy(soak, 80<<20, 0.002, 7), func(i int, x float64) float64 {
		return x + 30<<20*(1-math.Exp(-float64(i)/8))
	})
	cases := []struct {
		name   string
		n      int
		series map[string][]float64
		want   []anomaly.Kind
		at     time.Duration
	}{
		{name: "latency doubles at 15 s of 30", n: n, series: map[string][]float64{loadtest.SeriesVUs: constant(n, 10),
			loadtest.SeriesLatencyP95: step(1)}, want: []anomaly.Kind{anomaly.KindLatencyShift}, at: 15 * time.Second},
		{name: "a 10 % rise is no problem in 30 s", n: n, series: map[string][]float64{loadtest.SeriesVUs: constant(n, 10),
			loadtest.SeriesLatencyP95: step(0.1)}, want: []anomaly.Kind{}},
		{name: "12 % failures for 8 s: a burst, not an increase", n: n, series: map[string][]float64{loadtest.SeriesVUs: constant(n, 10),
			loadtest.SeriesRequests: constant(n, 500), loadtest.SeriesFailedRate: burst},
			want: []anomaly.Kind{anomaly.KindErrorBurst}, at: 10 * time.Second},
		{name: "a strong leak in a 50 s soak", n: soak, series: map[string][]float64{loadtest.SeriesVUs: constant(soak, 10),
			loadtest.SeriesTargetRSS: leakRSS}, want: []anomaly.Kind{anomaly.KindMemoryLeak}},
		{name: "warm-up that levels off is no leak", n: soak, series: map[string][]float64{loadtest.SeriesVUs: constant(soak, 10),
			loadtest.SeriesTargetRSS: warmRSS}, want: []anomaly.Kind{}},
		{name: "generator CPU pegged for 15 s of 40", n: 40, series: map[string][]float64{loadtest.SeriesVUs: constant(40, 10),
			loadtest.SeriesGeneratorCPU: scale(constant(40, 30), func(i int, x float64) float64 {
				if i >= 20 && i < 35 {
					return 97
				}
				return x
			})}, want: []anomaly.Kind{anomaly.KindGeneratorCPU}, at: 20 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(run(c.n, c.series), nil, anomaly.Options{})
			require.Equal(t, c.want, kinds(rep), rep.Summary)
			if len(c.want) > 0 && c.at > 0 {
				assert.InDelta(t, c.at.Seconds(), rep.Findings[0].Start.Seconds(), 2)
			}
		})
	}
}

// TestTargetCPU: the target's CPU is judged against its CPU count when
// the options give it, and named in a throughput limit it explains.
func TestTargetCPU(t *testing.T) {
	t.Parallel()
	const n = 60
	busy := scale(constant(n, 40), func(i int, x float64) float64 {
		if i >= 20 && i < 50 {
			return 186 // of 200 % on two CPUs
		}
		return x
	})
	// The demo's ramp with the target's CPU following throughput up to one
	// CPU, then pegged there.
	demoCPU := scale(demoRPS, func(_ int, r float64) float64 { return min(98, r/7.4) })
	cases := []struct {
		name string
		res  loadtest.Result
		opts anomaly.Options
		want []anomaly.Kind
		msg  string
	}{
		{name: "two CPUs, 93 % busy for 30 s", res: run(n, map[string][]float64{loadtest.SeriesTargetCPU: busy}),
			opts: anomaly.Options{TargetCPUs: 2}, want: []anomaly.Kind{anomaly.KindTargetCPU}, msg: "93 % of its 2 CPUs for 30s"},
		{name: "four CPUs: 186 % is half of them", res: run(n, map[string][]float64{loadtest.SeriesTargetCPU: busy}),
			opts: anomaly.Options{TargetCPUs: 4}, want: []anomaly.Kind{}},
		{name: "two CPUs from the plan's telemetry", res: withTelemetryCPUs(run(n, map[string][]float64{loadtest.SeriesTargetCPU: busy}), 2),
			want: []anomaly.Kind{anomaly.KindTargetCPU}, msg: "93 % of its 2 CPUs for 30s"},
		{name: "the options over the plan's telemetry", res: withTelemetryCPUs(run(n, map[string][]float64{loadtest.SeriesTargetCPU: busy}), 2),
			opts: anomaly.Options{TargetCPUs: 4}, want: []anomaly.Kind{}},
		{name: "unknown CPUs: not judged alone", res: run(n, map[string][]float64{loadtest.SeriesTargetCPU: busy}),
			want: []anomaly.Kind{}},
		{name: "pegged at one CPU in a throughput limit", res: run(len(demoVUs), map[string][]float64{loadtest.SeriesVUs: demoVUs,
			loadtest.SeriesRequests: demoRPS, loadtest.SeriesTargetCPU: demoCPU}),
			want: []anomaly.Kind{anomaly.KindThroughputLimit}, msg: "The target's CPU held at 98 % of 1 CPU meanwhile: it ran out of CPU."},
		{name: "with the CPU count: still one finding", res: run(len(demoVUs), map[string][]float64{loadtest.SeriesVUs: demoVUs,
			loadtest.SeriesRequests: demoRPS, loadtest.SeriesTargetCPU: demoCPU}), opts: anomaly.Options{TargetCPUs: 1, GeneratorCPUFor: 5 * time.Second},
			want: []anomaly.Kind{anomaly.KindThroughputLimit}, msg: "ran out of CPU"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := anomaly.Analyze(c.res, nil, c.opts)
			require.Equal(t, c.want, kinds(rep), rep.Summary)
			if c.msg != "" {
				assert.Contains(t, rep.Findings[0].Message, c.msg)
			}
		})
	}
}

// withTelemetryCPUs records in res's plan that the target has cpus CPUs.
func withTelemetryCPUs(res loadtest.Result, cpus float64) loadtest.Result {
	res.Config.Telemetry = &loadtest.Telemetry{Prometheus: "http://127.0.0.1:9100/metrics", CPUs: cpus}
	return res
}
