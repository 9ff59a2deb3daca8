// Package metrics is loadlens's model of k6 metrics: samples, tags, the four
// metric types and their sinks, sub-metrics, and the threshold language.
//
// It is the leaf of the dependency graph and imports nothing from loadlens.
//
// A run produces [Sample] values. Each names a registered [*Metric] (see
// [Registry]), carries immutable [Tags], and is folded into a [Sink] of the
// metric's type: a counter, gauge, rate or trend. Trends keep a mergeable
// log-bucketed histogram, not the samples, so memory stays constant however
// long a run lasts and per-generator histograms merge exactly.
//
// [Totals] keeps one sink per metric and per declared sub-metric
// (`http_req_duration{status:200}`); an [Evaluator] checks k6 thresholds
// (`p(95)<500`, `rate<0.01`, abortOnFail) against it at any time:
//
//	reg := metrics.NewRegistry()
//	ths, err := metrics.ParseThresholds(map[string][]string{"http_req_duration": {"p(95)<500"}})
//	ev, err := metrics.NewEvaluator(ths, reg)
//	totals := metrics.NewTotals(ev.MetricKeys()...)
//	totals.Add(samples...)
//	for _, v := range ev.Evaluate(totals, elapsed) { ... }
package metrics
