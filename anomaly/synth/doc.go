// Package synth generates labelled synthetic runs for evaluating the anomaly
// detectors.
//
// It makes [loadtest.Result] values with realistic noise — log-normal
// latencies sampled per request, Poisson request counts from a closed-loop
// VU model, slow latency wander and isolated slow seconds, binomial
// failures, generator and target telemetry — into which one known problem is
// injected at a known time: a latency step, a slow drift, an error burst, a
// throughput plateau with a known knee, generator saturation, or a memory
// leak. Null runs inject nothing. Runs are long (10–40 minutes) or, with
// Spec.Short, as short as smoke tests and CI load tests (20–65 s), with the
// stronger problems a short run can show.
//
// It is pure and deterministic: the same [Spec] always gives the same
// [Run]; randomness comes only from the Spec's seed (math/rand/v2 PCG).
// It imports loadtest, scenarios and metrics, like anomaly.
//
// Usage:
//
//	for _, spec := range synth.Suite(20) {
//		run := synth.Generate(spec)
//		rep := anomaly.Analyze(run.Result, nil, anomaly.Options{})
//		// compare rep.Findings with run.Labels
//	}
package synth
