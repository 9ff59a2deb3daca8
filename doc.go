// Package loadlens is the documentation root of the loadlens module: a Go
// load-testing engine that runs k6-style tests in process, and an agent that
// analyses what went wrong.
//
// The packages, from the bottom up (an arrow means "may import"; see
// arch_test.go, which enforces it):
//
//   - metrics: samples, tags, sinks, sub-metrics, thresholds
//   - scenarios: k6 executors, execution segments, test-type presets
//   - target: the built-in demo target (a leaf: imports no loadlens package)
//   - loadtest: Plan → Run → Result; VUs, outputs, summaries; k6http (the
//     instrumented HTTP client), telemetry (the target's own metrics),
//     lttest (load tests inside go test)
//   - js: k6 scripts on grafana/sobek
//   - anomaly: findings from a Result and its history
//   - gemini: grounded AI analysis of a Result and its findings
//   - report: JSON, HTML, JUnit and comparisons
//   - store, service: the per-tenant agent and its history
//   - cli: the command line as a library (custom binaries with k6/x/
//     modules import it)
//   - cmd/loadlens: the loadlens binary, a few lines over cli
package loadlens
