package loadtest

import (
	"encoding/json"
	"math"
	"time"

	"github.com/loadlens/loadlens/internal/deepcopy"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Result is everything a run measured, as plain data: it serialises to JSON
// and is all that analyzers, reports and the agent ever see of a run.
type Result struct {
	Name     string    `json:"name,omitempty"`
	TestType string    `json:"test_type,omitempty"` // smoke, load, stress, spike, soak, breakpoint, custom
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Duration is the test run's duration, from the first scenario's start
	// to the last iteration's end (k6's testRunDurationMs).
	Duration time.Duration `json:"duration_ns"`

	Status Status `json:"status"`
	// Abort says why the run stopped early, when it did.
	Abort *Abort `json:"abort,omitempty"`
	// FailedBy is set when a script marked the test failed (k6 exec.test.fail).
	FailedBy string `json:"failed_by,omitempty"`

	// Config echoes the plan that ran, with secrets redacted.
	Config PlanEcho `json:"config"`

	// Metrics holds the end-of-test aggregation of every metric and declared
	// sub-metric, keyed by name as k6 keys its summary
	// ("http_req_duration{status:200}" for a sub-metric).
	Metrics map[string]MetricSummary `json:"metrics"`
	// Thresholds holds the final verdict of every threshold, in declaration
	// order of metric key.
	Thresholds []metrics.Verdict `json:"thresholds,omitempty"`
	// RootGroup is the tree of groups and checks, as k6's root_group.
	RootGroup Group `json:"root_group"`
	// Endpoints summarises HTTP requests per endpoint (the name tag, which
	// defaults to the URL), busiest first, at most MaxEndpoints of them.
	Endpoints []EndpointStats `json:"endpoints,omitempty"`
	// DistinctNames counts the distinct name tags of HTTP requests (capped
	// at 10 000): hundreds mean URLs with ids in them were not grouped.
	DistinctNames int `json:"distinct_names"`
	// Scenarios is each scenario's final progress.
	Scenarios []scenarios.Progress `json:"scenarios"`
	// Timeline holds per-second series: load, throughput, latency
	// percentiles, errors, generator and target health.
	Timeline Timeline `json:"timeline"`
	// Generator summarises the load generator's own CPU and memory.
	Generator GeneratorHealth `json:"generator"`
	// Target summarises the target's own CPU and memory when the plan
	// named telemetry sources; nil otherwise.
	Target *TargetHealth `json:"target,omitempty"`
	// IterationErrors counts errors returned by iterations, by message (the
	// most frequent MaxIterationErrors messages).
	IterationErrors []ErrorCount `json:"iteration_errors,omitempty"`
	// SetupData is the JSON value setup() returned, if any.
	SetupData json.RawMessage `json:"setup_data,omitempty"`
	// Warnings lists what the engine noticed but did not fail on (ignored
	// options, insufficient VUs, endpoint or series caps reached).
	Warnings []string `json:"warnings,omitempty"`
}

// Status is how a run ended.
type Status string

// Run statuses.
const (
	// StatusPassed: the run completed and every threshold passed.
	StatusPassed Status = "passed"
	// StatusThresholdsFailed: the run completed (or was aborted by an
	// abortOnFail threshold) with at least one failed threshold.
	StatusThresholdsFailed Status = "thresholds_failed"
	// StatusAborted: a script or the caller aborted the run.
	StatusAborted Status = "aborted"
	// StatusMarkedFailed: a script marked the run failed and it completed.
	StatusMarkedFailed Status = "marked_failed"
	// StatusErrored: the run could not execute (setup failed, no VU could
	// be initialised).
	StatusErrored Status = "errored"
)

// Abort says who stopped a run early and why.
type Abort struct {
	By     AbortSource   `json:"by"`
	Reason string        `json:"reason"`
	After  time.Duration `json:"after_ns"` // run time when it happened
}

// AbortSource names who stopped a run.
type AbortSource string

// Abort sources.
const (
	AbortByThreshold AbortSource = "threshold" // an abortOnFail threshold failed
	AbortByScript    AbortSource = "script"    // k6 exec.test.abort()
	AbortByCaller    AbortSource = "caller"    // the context given to Run was cancelled
	AbortBySetup     AbortSource = "setup"     // setup() failed or timed out
	// AbortByGenerator: a generator of a distributed run was lost (it
	// stopped heartbeating or exited) and the run does not go on without it.
	AbortByGenerator AbortSource = "generator"
)

// MetricSummary is one metric's end-of-test aggregation.
type MetricSummary struct {
	Type     metrics.MetricType `json:"type"`
	Contains metrics.ValueType  `json:"contains"`
	// Values holds k6's aggregations for the type: count and rate
	// (counter); value, min and max (gauge); rate, passes and fails (rate);
	// avg, min, med, max, count and percentiles (trend: the plan's
	// summaryTrendStats plus p(50), p(90), p(95), p(99)). Keys are spelled as
	// k6 spells them ("p(95)"). Time values are in ms, data values in bytes.
	Values map[string]float64 `json:"values"`
	// Submetric is set for sub-metric entries.
	Submetric *SubmetricInfo `json:"submetric,omitempty"`
}

// Metric returns the end-of-test aggregation of the metric or sub-metric
// called name ("http_req_duration", "http_req_duration{status:200}"): the
// zero MetricSummary, which has no values, when the run has none.
func (r Result) Metric(name string) MetricSummary { return r.Metrics[name] }

// Value returns the aggregation agg as k6 spells it ("avg", "rate",
// "count", "p(95)"), and whether the metric has it as a finite number.
func (m MetricSummary) Value(agg string) (float64, bool) {
	v, ok := m.Values[agg]
	return v, ok && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// Percentile returns the p-th percentile of a trend (95 for "p(95)"; 50
// is also found as "med"), as Value does.
func (m MetricSummary) Percentile(p float64) (float64, bool) {
	if v, ok := m.Value(metrics.Percentile(p).String()); ok || p != 50 {
		return v, ok
	}
	return m.Value("med")
}

// SubmetricInfo names a sub-metric's parent and selector tags.
type SubmetricInfo struct {
	Parent string            `json:"parent"`
	Tags   map[string]string `json:"tags"`
}

// Group is a node of k6's group tree, with the checks made inside it.
type Group struct {
	Name   string  `json:"name"`
	Path   string  `json:"path"` // "::outer::inner"; "" for the root
	ID     string  `json:"id"`   // md5 of the path, as k6
	Groups []Group `json:"groups"`
	Checks []Check `json:"checks"`
}

// Check counts the outcomes of one named check in one group.
type Check struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	ID     string `json:"id"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}

// EndpointStats summarises the HTTP requests of one endpoint.
type EndpointStats struct {
	Name     string `json:"name"` // the name tag (the URL unless the request named itself)
	Method   string `json:"method,omitempty"`
	Requests int64  `json:"requests"`
	// Failed counts requests with an unexpected status or a network error
	// (http_req_failed).
	Failed int64 `json:"failed"`
	// Duration holds http_req_duration aggregations in ms: avg, min, med,
	// max, p(90), p(95), p(99).
	Duration map[string]float64 `json:"duration_ms"`
	// Statuses counts responses by status ("200", "503", "0" for network
	// errors).
	Statuses map[string]int64 `json:"statuses"`
	// Errors counts failed requests by k6 error_code.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// ErrorCount is a message and how often it occurred.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// GeneratorHealth summarises the load generator's own resource use: when it
// is saturated, latencies measure the generator as much as the target.
type GeneratorHealth struct {
	CPUs        int     `json:"cpus"`          // GOMAXPROCS during the run
	CPUAvg      float64 `json:"cpu_avg_pct"`   // of all CPUs the process may use
	CPUMax      float64 `json:"cpu_max_pct"`   // highest one-second value
	RSSMaxBytes float64 `json:"rss_max_bytes"` // peak resident memory
}

// Clone returns a deep copy of r: it shares no map, slice or pointer with
// r, so either may be changed without the other. Outputs get one at Stop.
func (r Result) Clone() Result { return deepcopy.Of(r) }
