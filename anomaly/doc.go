// Package anomaly finds what went wrong in a load-test run and says why,
// from the run's [loadtest.Result] alone.
//
// [Analyze] applies, in order:
//
//   - rules: a run that errored or was aborted (critical); an error rate
//     above 5 % (medium) or 10 % (high); p95 latency above 2 s; every
//     failed threshold, and thresholds that saw no data;
//   - k6 Cloud's performance insights: failures among the first 100
//     requests, a failure rate that rose and stayed up, the throughput
//     limit (the VUs rose 1.5× or more while req/s stayed flat), more than
//     500 distinct URLs, a saturated load generator (CPU ≥ 85 % for ≥ 30 s,
//     or a third of a short run: its latencies are then suspect, and
//     latency findings of that time are folded into the generator's
//     finding) and its memory; the target's own CPU, when its telemetry
//     has it and Options.TargetCPUs says how many CPUs it has;
//   - the gross-change screen, over the whole run before any statistics,
//     overall and per endpoint (the name tag): latency that rises 2.5× or
//     more and stays up for 3 s or more is a finding wherever it is — the
//     first and last seconds, a run of 10 s — named by the endpoint that
//     moved, with what requests/s did at the same load; a rise that keeps
//     climbing is a drift, whose onset comes from a segmented fit (flat,
//     then linear) and whose shape must beat any single step; repeated
//     all-request stalls (the slowest request many times the usual p95
//     while fewer requests complete, in clusters) with their period and
//     length;
//   - causes: iterations that threw (how many, the most frequent message,
//     their share, from when) and requests that got no HTTP answer (k6's
//     error code and what it means, on which endpoint, from when), which
//     also name the cause of early failures;
//   - time-series detectors that know the load schedule, for the subtle
//     changes the screen leaves: the plan's stages (or flat stretches of
//     the VU series) give the steady periods; inside them, after a
//     settling time (a short period is judged from its start), latency is
//     tested for steps (CUSUM with a Brownian-bridge p-value on a log
//     latency index, binary segmentation, confirmed by an E-divisive split
//     and Welch's t-test) and drifts (Mann–Kendall, Sen's slope, hinge
//     onset); steady periods at the same or a higher load are compared
//     with each other. Errors are tested over the whole run with a
//     Bernoulli CUSUM confirmed by a quasi-binomial test; memory (target
//     telemetry first, generator second) with Mann–Kendall and Sen's slope
//     after a warm-up; the knee of a stress ramp (10 points or more) with a
//     rise-then-flat fit and Kneedle, reported with the throughput-limit
//     insight as one finding that says which VU level and how latency rose
//     past it (and whether the target's CPU was pegged); arrival-rate
//     schedules that could not be kept with dropped iterations and
//     lateness;
//   - host contention: when the generator's goroutines waited to run while
//     its own CPU was low (other processes took the host's CPUs), latency
//     findings that began then are folded into a host-contention finding
//     instead of blaming the target;
//   - history: each key metric against previous runs of the same test (a t
//     prediction interval whose spread is never below the metric's
//     resolution — the latency sketches' 0.5 % —, or Welch's test on the
//     previous run's series, beyond a 5 % noise floor) and Otava-style
//     change points over the run history ([ChangePoints], which reproduces
//     Apache Otava's own test outputs), worded by direction ("throughput
//     fell 21 %").
//
// Short runs — smoke tests, CI load tests of 30 s, `loadlens demo` — are
// analysed too: a steady stage settles for a fifth of its length (at most
// SettleTime), steady periods of 10 s (ShortSteady) are looked at, a ramp
// of 10 points may show a knee, and a soak of a minute a leak; what is
// short needs stronger evidence (a latency change of 20 %, an F-test of
// the knee, a leak of 64 MiB/min that does not slow down). The synthetic
// suite scores long and short runs apart.
//
// Findings are merged to one per episode, get stable IDs, and are ranked
// by severity; the [Report] has a short summary. Everything is pure and
// deterministic: no I/O, no clock, no randomness, no network. Tuning lives
// in [Options], whose zero value is the documented defaults.
//
// It may import loadtest, scenarios and metrics, and the standard library
// and gonum (special functions for the tests' tails).
//
// Usage:
//
//	res, err := loadtest.Run(ctx, plan)
//	…
//	rep := anomaly.Analyze(res, previous, anomaly.Options{})
//	fmt.Println(rep.Summary)
//	for _, f := range rep.Findings {
//		fmt.Println(f.Severity, f.Kind, f.Start, f.Message)
//	}
//
// Subpackages: synth generates labelled synthetic runs; evaluation scores
// the detectors on them and on a corpus of real runs recorded against the
// fault-injecting demo target (cmd/anomalyeval records the corpus and
// prints the tables).
package anomaly
