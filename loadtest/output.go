package loadtest

import (
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Output consumes a run's samples in process: k6's "custom output". The
// engine calls Start once, then AddSamples from a single goroutine in
// arrival order, then Stop once after the last sample.
type Output interface {
	// Start is called before the first sample. An error stops the run before
	// it starts.
	Start(info RunInfo) error
	// AddSamples receives a batch of samples. The batch is only valid during
	// the call: copy what you keep. It must not block for long: the engine
	// waits for it.
	AddSamples(batch []metrics.Sample)
	// Stop is called after the last sample, with a copy of the run's
	// result that is the output's own: changing it changes nothing else.
	// An output whose Start succeeded when another's failed is stopped
	// with the zero Result (Status ""). Its error is reported in
	// Result.Warnings and does not change the run's status.
	Stop(result Result) error
}

// ProgressReceiver is an optional interface of an Output: it receives a
// snapshot of the run every second (and one final snapshot), for progress
// bars and status APIs.
type ProgressReceiver interface {
	Progress(Snapshot)
}

// TimelineReceiver is an optional interface of an Output: each second, and
// once more before Stop, it receives the seconds of the run's timeline
// closed since its previous call, for live charts. Every series seen so far
// is in it, aligned (a series that began later is NaN before), and Start is
// the time of the first second given; it is not called when no second
// closed. The Timeline is the receiver's to keep.
type TimelineReceiver interface {
	TimelineSeconds(Timeline)
}

// RunInfo describes a run to outputs before it starts.
type RunInfo struct {
	Start      time.Time
	Plan       PlanEcho
	Registry   *metrics.Registry
	Thresholds metrics.Thresholds
	// Submetrics lists the sub-metrics the run tracks (thresholds' and k6's
	// default http_req_duration{expected_response:true}).
	Submetrics []metrics.Submetric
	// Executors are the scenarios' executors by scenario name, for outputs
	// that steer a run: the agent scales an externally-controlled one
	// (*scenarios.ExternalExecutor) through SetVUs.
	Executors map[string]scenarios.Executor
}

// Snapshot is the state of a running test.
type Snapshot struct {
	Elapsed     time.Duration        `json:"elapsed_ns"`
	Scenarios   []scenarios.Progress `json:"scenarios"`
	VUs         int64                `json:"vus"`
	VUsMax      int64                `json:"vus_max"`
	Iterations  uint64               `json:"iterations"`
	Interrupted uint64               `json:"interrupted"`
	// Fraction is how far the whole plan is, 0 … 1: each scenario's own
	// progress (iterations for count-based executors, time otherwise,
	// gracefulStop not counted), weighted by its regular duration. A run
	// stopped early keeps the fraction it reached.
	Fraction float64 `json:"fraction"`
	// Requests and RequestRate count HTTP requests so far and in the last
	// second; ErrorRate is the share of failed requests so far; P95 is
	// http_req_duration's p(95) so far in ms (0 before the first request).
	Requests    int64   `json:"requests"`
	RequestRate float64 `json:"request_rate"`
	ErrorRate   float64 `json:"error_rate"`
	P95         float64 `json:"p95_ms"`
	// Failing lists the thresholds that fail at the moment.
	Failing []string `json:"failing,omitempty"`
	Done    bool     `json:"done"`
}
