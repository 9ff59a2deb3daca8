// Package loadtest is loadlens's engine: it runs a [Plan] in process and
// returns a [Result].
//
// A plan names scenarios (k6 executors from package scenarios), the code
// its VUs run — Go functions ([Funcs]), a request plan ([Target]), or a k6
// script (package js) — thresholds in k6's grammar and k6's options. [Run]
// drives the executors over a pool of VUs; every measurement is a
// metrics.Sample that flows, in process, to the engine's own aggregation
// (totals for thresholds and summaries, a per-second [Timeline],
// per-endpoint stats, the group and check tree) and to any [Output] you
// pass. Thresholds are evaluated every 2 s and at the end; an abortOnFail
// threshold stops the run with a cause the Result reports.
//
// The Result is plain data. Analyzers, reports and the agent take it as a
// value; [WriteTextSummary], [WriteSummaryExport] and [NewSummaryData] render
// k6's end-of-test summary and its two JSON shapes.
//
// loadtest may import scenarios and metrics; it knows nothing of scripts,
// the agent or AI.
//
//	res, err := loadtest.Run(ctx, loadtest.Plan{
//		Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 10, Duration: 30 * time.Second}},
//		Thresholds: thresholds, // e.g. http_req_duration: p(95)<500
//		Target: &loadtest.Target{BaseURL: "http://127.0.0.1:8080", Endpoints: []loadtest.Endpoint{{Path: "/"}}},
//	})
//
// Package loadtest/lttest runs plans inside Go tests; package
// loadtest/k6http is the instrumented HTTP client every VU owns.
package loadtest
