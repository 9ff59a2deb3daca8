package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Kind is what a synthetic run has injected.
type Kind string

// Kinds of runs.
const (
	// Null: constant load, nothing injected.
	Null Kind = "null"
	// NullStepped: three steady stages at rising load; latency rises with
	// the load as queueing predicts, which is expected, not a problem.
	NullStepped Kind = "null_stepped"
	// NullRamp: a stress ramp that stays below the target's capacity.
	NullRamp Kind = "null_ramp"
	// LatencyStep: latency steps up by Size (0.05 = 5 %) at At.
	LatencyStep Kind = "latency_step"
	// LatencyDrift: latency rises linearly from At to the end of the
	// steady stage, by Size in total.
	LatencyDrift Kind = "latency_drift"
	// ErrorBurst: the failure rate is Size (0.02 = 2 %) from At for
	// Length.
	ErrorBurst Kind = "error_burst"
	// Knee: a stress ramp past the target's capacity; throughput stops
	// growing at Size VUs, reached at At.
	Knee Kind = "knee"
	// GeneratorSaturation: the generator's CPU is pegged from At for
	// Length; its measured latencies inflate meanwhile.
	GeneratorSaturation Kind = "generator_saturation"
	// Leak: the target's memory grows by Size bytes per minute from At;
	// Size 0 is a null soak run.
	Leak Kind = "leak"
)

// Kinds lists every kind, nulls first.
var Kinds = []Kind{Null, NullStepped, NullRamp, LatencyStep, LatencyDrift, ErrorBurst, Knee, GeneratorSaturation, Leak}

// Sizes are the magnitudes the standard suite cycles through per kind.
var Sizes = map[Kind][]float64{
	LatencyStep:         {0.05, 0.10, 0.20, 0.50},
	LatencyDrift:        {0.20, 0.50, 1.00},
	ErrorBurst:          {0.02, 0.05, 0.12},
	GeneratorSaturation: {1},
	Leak:                {0, 1 << 20, 2 << 20, 5 << 20, 10 << 20},
}

// ShortSizes are the magnitudes the short runs of the standard suite cycle
// through: a short run can only show a strong problem.
var ShortSizes = map[Kind][]float64{
	LatencyStep:         {0.30, 0.50, 1.00, 2.00},
	LatencyDrift:        {0.50, 1.00, 2.00},
	ErrorBurst:          {0.05, 0.12, 0.30},
	GeneratorSaturation: {1},
	Leak:                {0, 128 << 20, 256 << 20, 512 << 20},
}

// Spec says which run to generate.
type Spec struct {
	Kind Kind   `json:"kind"`
	Seed uint64 `json:"seed"`
	// Size is the injected magnitude (see each Kind); 0 picks the first of
	// Sizes[Kind]. Knee runs draw their knee from the seed.
	Size float64 `json:"size"`
	// NoPlan leaves Result.Config.Scenarios empty, so that the detectors
	// must read the schedule from the VU series.
	NoPlan bool `json:"no_plan,omitempty"`
	// Duration stretches the steady stage (0: the kind's default), for
	// benchmarks of long runs.
	Duration time.Duration `json:"duration,omitempty"`
	// Short makes a run of 20–65 s, like a smoke test or a CI load test: a
	// 1–5 s ramp and 20–50 s of steady load (40–60 s for leaks), three
	// 15 s stages for NullStepped, a 20–40 s ramp to 30–80 VUs and a 5 s
	// hold for Knee and NullRamp, with 0–150 ms of think time. Bursts last
	// 5–10 s, generator saturation half the steady stage.
	Short bool `json:"short,omitempty"`
}

// Label is one injected problem: what and when.
type Label struct {
	Kind Kind `json:"kind"`
	// At is when it starts, from the run's start.
	At time.Duration `json:"at_ns"`
	// Length is how long it lasts (0: to the end of the steady stage).
	Length time.Duration `json:"length_ns,omitempty"`
	// Size is its magnitude: relative latency change, failure rate, bytes
	// per minute, or the knee's VU count.
	Size float64 `json:"size"`
}

// Run is a generated run with what was injected into it.
type Run struct {
	Spec   Spec            `json:"spec"`
	Result loadtest.Result `json:"result"`
	// Labels is empty for null runs.
	Labels []Label `json:"labels"`
}

// Suite returns the standard evaluation suite: seeds runs of every kind,
// cycling through the kind's sizes, then seeds short runs of every kind,
// cycling through ShortSizes; every fourth run has no plan.
func Suite(seeds int) []Spec {
	var out []Spec
	for _, short := range []bool{false, true} {
		sizes, base := Sizes, 0
		if short {
			sizes, base = ShortSizes, 100_000
		}
		for ki, k := range Kinds {
			for s := range seeds {
				sp := Spec{Kind: k, Seed: uint64(base + 1000*ki + s + 1), NoPlan: s%4 == 3, Short: short}
				if sz := sizes[k]; len(sz) > 0 {
					sp.Size = sz[s%len(sz)]
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

// stage is a piece of the VU schedule: reach target linearly over d.
type stage struct {
	d      time.Duration
	target float64
}

// model holds one run's hidden truth, second by second.
type model struct {
	rng       *rand.Rand
	n         int
	vus       []float64
	latFactor []float64 // multiplies the median latency (injections)
	errRate   []float64 // failure probability per request
	genCPU    []float64 // generator CPU %, before noise; NaN: from load
	genSlow   []float64 // multiplies measured latency (generator saturation)
	leak      []float64 // extra target bytes retained
	capacity  float64   // req/s the target can serve (Inf: no limit)
}

// Generate builds the run that spec describes.
func Generate(spec Spec) Run {
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(len(spec.Kind))*0x9e3779b97f4a7c15+7))
	sizes := Sizes
	if spec.Short {
		sizes = ShortSizes
	}
	if spec.Size == 0 && len(sizes[spec.Kind]) > 0 && spec.Kind != Leak {
		spec.Size = sizes[spec.Kind][0]
	}
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	dur := func(lo, hi float64) time.Duration { return time.Duration(u(lo, hi)) * time.Second }

	// Per-run constants: the target's base latency, think time, noise.
	median := u(20, 80)    // ms
	sigma := u(0.35, 0.6)  // log-normal shape
	think := u(0.3, 1.0)   // s between a VU's requests
	baseErr := u(0, 0.003) // failure probability
	vus := math.Round(u(30, 120))
	steadyLen := 10 * time.Minute
	switch spec.Kind {
	case LatencyDrift:
		steadyLen = 15 * time.Minute
	case Leak:
		steadyLen = 40 * time.Minute
	}
	if spec.Duration > 0 {
		steadyLen = spec.Duration
	}
	ramp := 30 * time.Second
	var stages []stage
	switch {
	case spec.Short:
		stages, ramp, steadyLen, vus = shortStages(spec, u, dur, vus)
		if spec.Kind == Knee || spec.Kind == NullRamp {
			// A short stress test is a fast one (a knee with no more than
			// a dozen req/s is noise in 30 s): 0–150 ms of think time.
			think = u(0, 0.15)
		}
	case spec.Kind == NullStepped:
		step := 4 * time.Minute
		stages = []stage{{ramp, vus / 3}, {step, vus / 3}, {20 * time.Second, 2 * vus / 3}, {step, 2 * vus / 3},
			{20 * time.Second, vus}, {step, vus}, {10 * time.Second, 0}}
	case spec.Kind == Knee || spec.Kind == NullRamp:
		vus = math.Round(u(150, 300))
		stages = []stage{{dur(600, 900), vus}, {time.Minute, vus}, {10 * time.Second, 0}}
	default:
		stages = []stage{{ramp, vus}, {steadyLen, vus}, {10 * time.Second, 0}}
	}
	var total time.Duration
	for _, s := range stages {
		total += s.d
	}
	n := int(total / time.Second)
	m := &model{rng: rng, n: n, vus: make([]float64, n), latFactor: ones(n), errRate: fill(n, baseErr),
		genCPU: fill(n, math.NaN()), genSlow: ones(n), leak: make([]float64, n), capacity: math.Inf(1)}
	// The schedule, second by second (the value at the end of each second).
	{
		t, from := time.Duration(0), 0.0
		for _, s := range stages {
			for i := int(t / time.Second); i < n && time.Duration(i)*time.Second < t+s.d; i++ {
				f := (float64(time.Duration(i+1)*time.Second-t) / float64(s.d))
				m.vus[i] = math.Round(from + (s.target-from)*min(1, f))
			}
			t += s.d
			from = s.target
		}
	}
	steadyStart, steadyEnd := ramp, ramp+steadyLen
	// Onsets are uniform over a share of the steady stage, but leave 5 s
	// of it before and after (30 s in a long run): a subtle change at its
	// very edge has nothing to be told from.
	margin := 30 * time.Second
	if spec.Short {
		margin = 5 * time.Second
	}
	inSteady := func(lo, hi float64) time.Duration {
		at := time.Duration(float64(steadyLen) * u(lo, hi)).Truncate(time.Second)
		return steadyStart + min(max(at, margin), steadyLen-margin)
	}
	var labels []Label
	switch spec.Kind {
	case LatencyStep:
		at := inSteady(0.05, 0.95)
		for i := sec(at); i < n; i++ {
			m.latFactor[i] *= 1 + spec.Size
		}
		labels = append(labels, Label{Kind: LatencyStep, At: at, Size: spec.Size})
	case LatencyDrift:
		// A drift needs a quarter of the stage to rise: a faster one is a
		// step.
		at := inSteady(0.05, 0.75)
		a, b := sec(at), sec(steadyEnd)
		for i := a; i < n; i++ {
			f := min(1, float64(i-a)/float64(b-a))
			m.latFactor[i] *= 1 + spec.Size*f
		}
		labels = append(labels, Label{Kind: LatencyDrift, At: at, Size: spec.Size})
	case ErrorBurst:
		at := inSteady(0.05, 0.95)
		length := dur(15, 60)
		if spec.Short {
			length = dur(5, 10)
		}
		length = min(length, steadyEnd-at)
		for i := sec(at); i < min(n, sec(at+length)); i++ {
			m.errRate[i] = max(m.errRate[i], spec.Size)
		}
		labels = append(labels, Label{Kind: ErrorBurst, At: at, Length: length, Size: spec.Size})
	case GeneratorSaturation:
		at := inSteady(0.05, 0.6)
		length := dur(60, 240)
		if spec.Short {
			at = inSteady(0.05, 0.35)
			length = time.Duration(float64(steadyLen)*u(0.5, 0.6)).Truncate(time.Second) + 3*time.Second
		}
		for i := sec(at); i < min(n, sec(at+length)); i++ {
			m.genCPU[i] = u(90, 99)
			m.genSlow[i] = 1.3
		}
		labels = append(labels, Label{Kind: GeneratorSaturation, At: at, Length: length, Size: spec.Size})
	case Leak:
		if spec.Size > 0 {
			at := inSteady(0.05, 0.5)
			for i := sec(at); i < n; i++ {
				m.leak[i] = spec.Size * float64(i-sec(at)) / 60
			}
			labels = append(labels, Label{Kind: Leak, At: at, Size: spec.Size})
		}
	case Knee:
		// Capacity: a knee at 30–80 % of the peak VUs (a ramp needs a few
		// points before its knee).
		kneeVUs := math.Round(vus * u(0.3, 0.8))
		m.capacity = kneeVUs / (think + median/1000*math.Exp(sigma*sigma/2))
		at := time.Duration(0)
		for i, v := range m.vus {
			if v >= kneeVUs {
				at = time.Duration(i) * time.Second
				break
			}
		}
		labels = append(labels, Label{Kind: Knee, At: at, Size: kneeVUs})
	case NullRamp:
		m.capacity = 1.6 * vus / think
	}
	res := m.result(spec, stages, median, sigma, think)
	if spec.Kind == NullStepped {
		res.TestType = "stress"
	}
	if labels == nil {
		labels = []Label{}
	}
	return Run{Spec: spec, Result: res, Labels: labels}
}

// shortStages returns a short run's schedule, its ramp, steady length and
// peak VUs.
func shortStages(spec Spec, u func(lo, hi float64) float64, dur func(lo, hi float64) time.Duration, vus float64) ([]stage, time.Duration, time.Duration, float64) {
	const down = 2 * time.Second
	switch spec.Kind {
	case NullStepped:
		const step, ramp = 15 * time.Second, 3 * time.Second
		return []stage{{ramp, vus / 3}, {step, vus / 3}, {ramp, 2 * vus / 3}, {step, 2 * vus / 3},
			{ramp, vus}, {step, vus}, {down, 0}}, ramp, step, vus
	case Knee, NullRamp:
		vus = math.Round(u(30, 80))
		ramp := dur(20, 41)
		return []stage{{ramp, vus}, {5 * time.Second, vus}, {time.Second, 0}}, ramp, 5 * time.Second, vus
	}
	ramp := dur(1, 6)
	steady := dur(20, 51)
	if spec.Kind == Leak {
		steady = dur(40, 61)
	}
	if spec.Duration > 0 {
		steady = spec.Duration
	}
	return []stage{{ramp, vus}, {steady, vus}, {down, 0}}, ramp, steady, vus
}

func sec(d time.Duration) int { return int(d / time.Second) }

func ones(n int) []float64 { return fill(n, 1) }

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// result simulates the run second by second and packs it as a Result.
func (m *model) result(spec Spec, stages []stage, median, sigma, think float64) loadtest.Result {
	rng := m.rng
	n := m.n
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(spec.Seed) * time.Hour)
	names := []string{loadtest.SeriesVUs, loadtest.SeriesVUsMax, loadtest.SeriesRequests, loadtest.SeriesFailedRate,
		loadtest.SeriesLatencyAvg, loadtest.SeriesLatencyP50, loadtest.SeriesLatencyP90, loadtest.SeriesLatencyP95,
		loadtest.SeriesLatencyP99, loadtest.SeriesLatencyMax, loadtest.SeriesIterations, loadtest.SeriesChecksFail,
		loadtest.SeriesDataSent, loadtest.SeriesDataRecv, loadtest.SeriesGeneratorCPU, loadtest.SeriesGeneratorRSS}
	target := []string{loadtest.SeriesTargetCPU, loadtest.SeriesTargetRSS, loadtest.SeriesTargetHeap, loadtest.SeriesTargetGoroutines}
	cols := map[string][]float64{}
	for _, nm := range append(slices.Clone(names), target...) {
		cols[nm] = make([]float64, n)
	}
	var wander float64 // AR(1) on log latency
	const phi = 0.9
	wsd := 0.01 * math.Sqrt(1-phi*phi)
	baseRSS := 80e6 + 220e6*rng.Float64()
	warm := 0.1 + 0.2*rng.Float64() // warm-up growth, share of baseRSS
	var rssNoise float64
	gcPeriod := 10 + rng.IntN(20)
	genBase := 20 + 20*rng.Float64()
	var all []float64 // every latency sample, for the summary
	var reqs, fails float64
	lat := make([]float64, 0, 4096)
	peakVUs := slices.Max(m.vus)
	peakDemand := max(1, demandAt(m, stages, think, median, sigma))
	for i := range n {
		v := m.vus[i]
		wander = phi*wander + wsd*rng.NormFloat64()
		med := median * m.latFactor[i] * math.Exp(wander)
		meanLat := med * math.Exp(sigma*sigma/2) / 1000 // s
		demand := 0.0
		if v > 0 {
			demand = v / (think + meanLat)
		}
		rate := demand
		if demand > m.capacity {
			// Queueing: throughput is held at capacity (a soft corner), the
			// wait grows so that Little's law holds.
			rate = m.capacity * softMin(demand/m.capacity)
			med *= max(1, (v/rate-think)/meanLat)
		}
		count := poisson(rng, rate)
		lat = lat[:0]
		spike := 1.0
		if rng.Float64() < 0.003 {
			spike = 2 + 2*rng.Float64()
		}
		for range min(count, 4000) {
			x := med * math.Exp(sigma*rng.NormFloat64()) * spike * m.genSlow[i]
			lat = append(lat, x)
		}
		failed := binomial(rng, count, m.errRate[i]*math.Exp(0.3*rng.NormFloat64()))
		reqs += float64(count)
		fails += float64(failed)
		all = append(all, lat...)
		setStats(cols, i, lat)
		cols[loadtest.SeriesVUs][i] = v
		cols[loadtest.SeriesVUsMax][i] = peakVUs
		cols[loadtest.SeriesRequests][i] = float64(count)
		cols[loadtest.SeriesIterations][i] = float64(count)
		cols[loadtest.SeriesFailedRate][i] = math.NaN()
		cols[loadtest.SeriesChecksFail][i] = math.NaN()
		if count > 0 {
			cols[loadtest.SeriesFailedRate][i] = float64(failed) / float64(count)
			cols[loadtest.SeriesChecksFail][i] = float64(failed) / float64(count)
		}
		cols[loadtest.SeriesDataSent][i] = float64(count) * 180
		cols[loadtest.SeriesDataRecv][i] = float64(count) * 2400
		cpu := genBase*rate/peakDemand + 3*rng.NormFloat64()
		if !math.IsNaN(m.genCPU[i]) {
			cpu = m.genCPU[i]
		}
		cols[loadtest.SeriesGeneratorCPU][i] = min(100, max(0, cpu))
		cols[loadtest.SeriesGeneratorRSS][i] = 40e6 + v*250e3 + 2e6*rng.NormFloat64()
		// Target: RSS warms up over ~2 minutes, carries a bounded random
		// walk and a little per-VU memory; the heap saw-tooths with GC.
		t := float64(i)
		rssNoise = 0.98*rssNoise + 0.3e6*rng.NormFloat64()
		rss := baseRSS*(1+warm*(1-math.Exp(-t/60))) + v*100e3 + rssNoise + m.leak[i]
		cols[loadtest.SeriesTargetRSS][i] = rss
		cols[loadtest.SeriesTargetHeap][i] = 0.4*rss*(0.8+0.4*float64(i%gcPeriod)/float64(gcPeriod)) + m.leak[i]*0.6
		cols[loadtest.SeriesTargetCPU][i] = min(400, rate*0.4+2*rng.NormFloat64())
		cols[loadtest.SeriesTargetGoroutines][i] = math.Round(8 + v + rng.Float64()*4)
	}
	series := make([]loadtest.Series, 0, len(names)+len(target))
	for _, nm := range names {
		series = append(series, loadtest.Series{Name: nm, Values: cols[nm]})
	}
	for _, nm := range target {
		series = append(series, loadtest.Series{Name: nm, Tags: map[string]string{"source": "target"}, Values: cols[nm]})
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	d := time.Duration(n) * time.Second
	res := loadtest.Result{
		Name: fmt.Sprintf("synth-%s-%d", spec.Kind, spec.Seed), TestType: "load",
		Start: start, End: start.Add(d), Duration: d, Status: loadtest.StatusPassed,
		Metrics: map[string]loadtest.MetricSummary{
			"http_req_duration": {Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{
				"avg": meanOf(all), "med": q(0.5), "p(90)": q(0.9), "p(95)": q(0.95), "p(99)": q(0.99), "max": q(1)}},
			"http_req_failed": {Type: metrics.Rate, Values: map[string]float64{"rate": fails / max(1, reqs), "passes": fails, "fails": reqs - fails}},
			"http_reqs":       {Type: metrics.Counter, Values: map[string]float64{"count": reqs, "rate": reqs / d.Seconds()}},
		},
		DistinctNames: 5,
		Timeline:      loadtest.Timeline{Start: start, Step: time.Second, Series: series},
		Generator: loadtest.GeneratorHealth{CPUs: 2, CPUAvg: meanOf(cols[loadtest.SeriesGeneratorCPU]),
			CPUMax: slices.Max(cols[loadtest.SeriesGeneratorCPU]), RSSMaxBytes: slices.Max(cols[loadtest.SeriesGeneratorRSS])},
	}
	if !spec.NoPlan {
		res.Config.Scenarios = scenarios.Scenarios{"default": rampingVUs(stages)}
	}
	return res
}

// demandAt returns the steady demand at the schedule's peak, which scales
// the generator's CPU so that it sits at genBase % there.
func demandAt(m *model, _ []stage, think, median, sigma float64) float64 {
	return slices.Max(m.vus) / (think + median/1000*math.Exp(sigma*sigma/2))
}

// softMin bends throughput to capacity: x for x ≪ 1, → 1 for x ≫ 1.
func softMin(x float64) float64 { return x / math.Pow(1+math.Pow(x, 8), 1.0/8) }

func rampingVUs(stages []stage) scenarios.Config {
	zero := int64(0)
	st := make([]scenarios.Stage, len(stages))
	for i, s := range stages {
		st[i] = scenarios.Stage{Duration: s.d, Target: int64(s.target)}
	}
	return scenarios.RampingVUs{StartVUs: &zero, Stages: st}
}

func setStats(cols map[string][]float64, i int, lat []float64) {
	keys := []string{loadtest.SeriesLatencyAvg, loadtest.SeriesLatencyP50, loadtest.SeriesLatencyP90,
		loadtest.SeriesLatencyP95, loadtest.SeriesLatencyP99, loadtest.SeriesLatencyMax}
	if len(lat) == 0 {
		for _, k := range keys {
			cols[k][i] = math.NaN()
		}
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	cols[loadtest.SeriesLatencyAvg][i] = meanOf(lat)
	cols[loadtest.SeriesLatencyP50][i] = q(0.5)
	cols[loadtest.SeriesLatencyP90][i] = q(0.9)
	cols[loadtest.SeriesLatencyP95][i] = q(0.95)
	cols[loadtest.SeriesLatencyP99][i] = q(0.99)
	cols[loadtest.SeriesLatencyMax][i] = lat[len(lat)-1]
}

func meanOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// poisson draws a Poisson variate with mean lambda (normal approximation
// above 500).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 500 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// binomial draws a Binomial(n, p) variate (normal approximation for large
// n·p).
func binomial(rng *rand.Rand, n int, p float64) int {
	p = min(max(p, 0), 1)
	if n == 0 || p == 0 {
		return 0
	}
	if float64(n)*p > 50 {
		sd := math.Sqrt(float64(n) * p * (1 - p))
		return min(n, max(0, int(math.Round(float64(n)*p+sd*rng.NormFloat64()))))
	}
	k := 0
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}
