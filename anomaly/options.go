package anomaly

import "time"

// Options tune the detectors. The zero value means the documented default
// of every field; a negative number switches a rule off where that is
// noted.
type Options struct {
	// ErrorRateMedium and ErrorRateHigh are the shares of failed requests
	// over the run above which KindErrorRate is medium and high. Defaults
	// 0.05 and 0.10.
	ErrorRateMedium float64 `json:"error_rate_medium,omitempty"`
	ErrorRateHigh   float64 `json:"error_rate_high,omitempty"`
	// LatencyP95 is the run's http_req_duration p(95) above which
	// KindHighLatency is reported. Default 2s.
	LatencyP95 time.Duration `json:"latency_p95,omitempty"`

	// EarlyRequests and EarlyFailureRate: KindEarlyFailures when more than
	// EarlyFailureRate of the first EarlyRequests requests failed. Defaults
	// 100 and 0.15 (k6 Cloud's values).
	EarlyRequests    int     `json:"early_requests,omitempty"`
	EarlyFailureRate float64 `json:"early_failure_rate,omitempty"`
	// FailureIncrease is the rise of the failure rate over the run's
	// beginning, in absolute terms, that a sustained error episode must
	// reach to be KindFailureIncrease rather than KindErrorBurst. Default
	// 0.10.
	FailureIncrease float64 `json:"failure_increase,omitempty"`
	// MinBurst is the smallest excess failure rate over the baseline an
	// error burst must show. Default 0.01 (one percentage point).
	MinBurst float64 `json:"min_burst,omitempty"`
	// MaxURLs is the count of distinct URL names above which
	// KindTooManyURLs is reported. Default 500.
	MaxURLs int `json:"max_urls,omitempty"`

	// GeneratorCPU (percent) and GeneratorCPUFor: KindGeneratorCPU when the
	// generator's CPU stays at or above GeneratorCPU for GeneratorCPUFor —
	// or, in a run shorter than three times GeneratorCPUFor, for a third
	// of the run (at least 10 s). Defaults 85 and 30s. GeneratorCPUFor
	// also says how long the target's CPU must stay saturated.
	GeneratorCPU    float64       `json:"generator_cpu,omitempty"`
	GeneratorCPUFor time.Duration `json:"generator_cpu_for,omitempty"`
	// TargetCPUs is the number of CPUs the target may use (its GOMAXPROCS
	// or container limit), which its telemetry does not say. Known, the
	// target's CPU (target.cpu_pct, percent of one CPU) at or above
	// TargetCPU % of TargetCPUs × 100 % for GeneratorCPUFor is
	// KindTargetCPU. Default 0, unknown: the target's CPU is judged only
	// inside a throughput limit, where CPU pegged at a whole number of
	// CPUs while the VUs rose shows what the target ran out of. Zero takes
	// the run's telemetry.cpus, when its plan gave it.
	TargetCPUs float64 `json:"target_cpus,omitempty"`
	// TargetCPU is the share, in percent, of the target's CPUs at which it
	// is saturated. Default 85.
	TargetCPU float64 `json:"target_cpu,omitempty"`
	// GeneratorRSS is the generator's resident memory, in bytes, at which
	// KindGeneratorMemory is reported. Default 2 GiB.
	GeneratorRSS float64 `json:"generator_rss,omitempty"`

	// PValue is the significance level of the in-run tests (CUSUM,
	// t-tests, Mann–Kendall, binomial). Default 0.001: with a few dozen
	// tests per run it keeps false alarms near one in twenty runs.
	PValue float64 `json:"pvalue,omitempty"`
	// MinShift is the smallest relative latency change, up, that a shift or
	// a degradation must show (the in-run noise floor). Default 0.03.
	MinShift float64 `json:"min_shift,omitempty"`
	// MinDrift is the smallest relative latency rise over a drift. Default
	// 0.10.
	MinDrift float64 `json:"min_drift,omitempty"`
	// SettleTime is skipped at the start of each steady period: the system
	// settles after a ramp. A steady stage shorter than five times
	// SettleTime settles for a fifth of its length (at least 2 s), so that
	// short runs keep most of their points. Default 15s.
	SettleTime time.Duration `json:"settle_time,omitempty"`
	// MinSteady is the steady period, after settling, from which the
	// time-series detectors judge latency with their full sensitivity
	// (MinShift, MinDrift). Default 60s.
	MinSteady time.Duration `json:"min_steady,omitempty"`
	// ShortSteady is the shortest steady period, after settling, that the
	// time-series detectors look at at all. Periods shorter than MinSteady
	// (smoke tests, CI runs of 30 s) need stronger evidence: a latency step
	// or drift of ShortMinChange or more. Default 10s.
	ShortSteady time.Duration `json:"short_steady,omitempty"`
	// ShortMinChange is the smallest relative latency step or drift
	// reported inside a steady period shorter than MinSteady. Default 0.20.
	ShortMinChange float64 `json:"short_min_change,omitempty"`
	// MergeGap joins findings of the same kind and metric whose windows are
	// this close into one episode. Default 30s.
	MergeGap time.Duration `json:"merge_gap,omitempty"`

	// LeakMinDuration is the shortest steady period the leak detector
	// judges, after MemorySettle. Default 5m.
	LeakMinDuration time.Duration `json:"leak_min_duration,omitempty"`
	// MemorySettle is skipped at the start of each steady period before
	// memory is judged: services fill caches and pools while they warm up.
	// Default 3m.
	MemorySettle time.Duration `json:"memory_settle,omitempty"`
	// LeakMinRate is the smallest growth, in bytes per minute, reported as
	// a leak. Default 512 KiB/min.
	LeakMinRate float64 `json:"leak_min_rate,omitempty"`
	// LeakMinGrowth is the smallest total growth over the steady period,
	// relative to its starting level. Default 0.02.
	LeakMinGrowth float64 `json:"leak_min_growth,omitempty"`
	// ShortLeakMinRate and ShortLeakMinGrowth judge resident memory in a
	// steady period too short for MemorySettle + LeakMinDuration (a soak of
	// a minute): after a shorter settle (a quarter of the period, at least
	// 5 s) only a strong, linear leak is reported — at least
	// ShortLeakMinRate bytes per minute (or the starting level per minute,
	// when that is less: a small process doubling its memory within a
	// minute) and ShortLeakMinGrowth of the starting level, without
	// slowing down (warm-up levels off; a leak does not). The Go heap
	// saw-tooths too much with GC to be judged that quickly. Defaults 64
	// MiB/min and 0.25.
	ShortLeakMinRate   float64 `json:"short_leak_min_rate,omitempty"`
	ShortLeakMinGrowth float64 `json:"short_leak_min_growth,omitempty"`

	// GrossRatio is how many times higher latency must be, held for three
	// points or more, for the gross-change screen to report it wherever it
	// is (overall and per endpoint); while the load grows, latency must
	// also rise 0.8 × GrossRatio times more than the load did. Default 2.5.
	GrossRatio float64 `json:"gross_ratio,omitempty"`
	// SpikeFor is the longest gross rise that came back which is a spike
	// (KindLatencySpike, low) rather than a step: a level held longer is a
	// new level, reported as a shift with its end (a 12× rise for 6 s is an
	// incident, not a blip) — when it rose 4× or more or held twice
	// SpikeFor; a smaller one is a medium spike. Default 5s.
	SpikeFor time.Duration `json:"spike_for,omitempty"`

	// KneeMinSpan is how much the VU count must grow (max/min of the ramp)
	// before the knee detector looks for a bend in the throughput curve. The
	// ramp needs 10 points or more (a ramp of 10 s at 1 s); a short ramp's
	// bend must be significant (an F-test of the bent line against a
	// straight one at PValue). Default 3.
	KneeMinSpan float64 `json:"knee_min_span,omitempty"`
	// KneeFlatness is the largest ratio of the throughput slope after the
	// knee to the slope before it that counts as "stopped growing". Default
	// 0.25.
	KneeFlatness float64 `json:"knee_flatness,omitempty"`
	// PlateauSpan and PlateauTolerance are k6 Cloud's throughput-limit
	// insight: the VUs rose by PlateauSpan times or more up to their peak
	// while requests per second grew by no more than PlateauTolerance
	// (the upper 99 % confidence bound of a line fitted to req/s against
	// VUs), over 6 points or more. Without a limit they would have grown
	// about as much as the VUs. Defaults 1.5 and 0.10.
	PlateauSpan      float64 `json:"plateau_span,omitempty"`
	PlateauTolerance float64 `json:"plateau_tolerance,omitempty"`

	// DroppedRate is the share of dropped iterations above which
	// KindCoordinatedOmission is reported; a negative value reports any
	// drop. Default 0.001.
	DroppedRate float64 `json:"dropped_rate,omitempty"`
	// Lateness is the iteration_lateness p99 which, held for 10 s or more,
	// shows an arrival-rate executor falling behind its schedule. Default
	// 100ms.
	Lateness time.Duration `json:"lateness,omitempty"`

	// NoiseFloor is the smallest relative change against history that
	// counts as a regression; half of it is the smallest spread between
	// runs the regression test assumes (a few runs that happen to agree
	// closely would otherwise make any move significant). Default 0.05.
	NoiseFloor float64 `json:"noise_floor,omitempty"`
	// RegressionPValue is the significance level of the comparisons with
	// history. Default 0.01.
	RegressionPValue float64 `json:"regression_pvalue,omitempty"`
	// History configures the change points over the run history; its
	// zero value is Otava's defaults (window 50, p ≤ 0.001).
	History ChangePointOptions `json:"history,omitzero"`
	// HistoryRecent is how many of the latest runs a history change point
	// must fall among to be reported. Default 5.
	HistoryRecent int `json:"history_recent,omitempty"`
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	defI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.ErrorRateMedium, 0.05)
	def(&o.ErrorRateHigh, 0.10)
	defD(&o.LatencyP95, 2*time.Second)
	defI(&o.EarlyRequests, 100)
	def(&o.EarlyFailureRate, 0.15)
	def(&o.FailureIncrease, 0.10)
	def(&o.MinBurst, 0.01)
	defI(&o.MaxURLs, 500)
	def(&o.GeneratorCPU, 85)
	defD(&o.GeneratorCPUFor, 30*time.Second)
	def(&o.GeneratorRSS, 2<<30)
	def(&o.TargetCPU, 85)
	def(&o.PValue, 0.001)
	def(&o.MinShift, 0.03)
	def(&o.MinDrift, 0.10)
	defD(&o.SettleTime, 15*time.Second)
	defD(&o.MinSteady, 60*time.Second)
	defD(&o.ShortSteady, 10*time.Second)
	def(&o.ShortMinChange, 0.20)
	defD(&o.MergeGap, 30*time.Second)
	defD(&o.LeakMinDuration, 5*time.Minute)
	defD(&o.MemorySettle, 3*time.Minute)
	def(&o.LeakMinRate, 512<<10)
	def(&o.LeakMinGrowth, 0.02)
	def(&o.ShortLeakMinRate, 64<<20)
	def(&o.ShortLeakMinGrowth, 0.25)
	def(&o.GrossRatio, 2.5)
	defD(&o.SpikeFor, 5*time.Second)
	def(&o.KneeMinSpan, 3)
	def(&o.KneeFlatness, 0.25)
	def(&o.PlateauSpan, 1.5)
	def(&o.PlateauTolerance, 0.10)
	def(&o.DroppedRate, 0.001)
	defD(&o.Lateness, 100*time.Millisecond)
	def(&o.NoiseFloor, 0.05)
	def(&o.RegressionPValue, 0.01)
	defI(&o.HistoryRecent, 5)
	o.History = o.History.withDefaults()
	return o
}
