package loadtest

import (
	"encoding/json"
	"maps"
	"math"
	"time"
)

// Names of the per-second series a run's Timeline holds. Per-endpoint
// series repeat the HTTP names with a "name" tag, per-scenario and
// per-group series (requests, failed rate, p95) with a "scenario" or a
// "group" tag; target telemetry series carry a "source" tag.
const (
	SeriesVUs         = "vus"                    // active VUs (last value in the second)
	SeriesVUsMax      = "vus_max"                // initialised VUs
	SeriesRequests    = "http_reqs"              // requests completed in the second (req/s)
	SeriesFailedRate  = "http_req_failed"        // share of those requests that failed, 0 … 1
	SeriesLatencyAvg  = "http_req_duration.avg"  // ms
	SeriesLatencyP50  = "http_req_duration.p50"  // ms
	SeriesLatencyP90  = "http_req_duration.p90"  // ms
	SeriesLatencyP95  = "http_req_duration.p95"  // ms
	SeriesLatencyP99  = "http_req_duration.p99"  // ms
	SeriesLatencyMax  = "http_req_duration.max"  // ms
	SeriesIterations  = "iterations"             // iterations completed in the second
	SeriesIterErrors  = "iteration_errors"       // of those, iterations that ended with an error (a script exception)
	SeriesDropped     = "dropped_iterations"     // iterations dropped in the second
	SeriesLatenessP99 = "iteration_lateness.p99" // ms an arrival-rate iteration started late
	SeriesChecksFail  = "checks.fail_rate"       // share of checks that failed, 0 … 1
	SeriesDataSent    = "data_sent"              // bytes/s
	SeriesDataRecv    = "data_received"          // bytes/s

	SeriesGeneratorCPU   = "generator.cpu_pct"      // % of the CPUs the generator may use
	SeriesGeneratorRSS   = "generator.rss_bytes"    // resident memory of the generator
	SeriesGeneratorSched = "generator.sched_p99_ms" // p99 of the time the generator's goroutines waited to run, ms
	SeriesHostCPU        = "host.cpu_pct"           // % of all the host's CPUs busy, every process included (Linux)

	SeriesTargetCPU        = "target.cpu_pct"          // % of one CPU, from process_cpu_seconds_total
	SeriesTargetRSS        = "target.rss_bytes"        // process_resident_memory_bytes
	SeriesTargetHeap       = "target.heap_inuse_bytes" // go_memstats_heap_inuse_bytes
	SeriesTargetGoroutines = "target.goroutines"       // go_goroutines
	SeriesTargetScrapeErr  = "target.scrape_errors"    // failed scrapes in the second

	// Series of custom metrics (the first MaxCustomSeries), tagged with
	// the metric's name ("metric").
	SeriesCustomP95   = "custom.p95"   // a trend's p95 in the second
	SeriesCustomCount = "custom.count" // a counter's sum in the second (per second)
	SeriesCustomRate  = "custom.rate"  // a rate's share of non-zero values, 0 … 1
	SeriesCustomValue = "custom.value" // a gauge's last value
)

// Timeline holds per-second series aligned on Start: point i covers
// [Start + i·Step, Start + (i+1)·Step).
type Timeline struct {
	Start  time.Time     `json:"start"`
	Step   time.Duration `json:"step_ns"`
	Series []Series      `json:"series"`
}

// Series is one named per-second series.
type Series struct {
	Name   string            `json:"name"`
	Tags   map[string]string `json:"tags,omitempty"`
	Unit   string            `json:"unit,omitempty"`
	Values Values            `json:"values"`
}

// Find returns the series with the given name whose tags equal tags (nil
// and empty match a series without tags), or nil.
func (tl Timeline) Find(name string, tags map[string]string) *Series {
	for i := range tl.Series {
		s := &tl.Series[i]
		if s.Name == name && len(s.Tags) == len(tags) && maps.Equal(s.Tags, tags) {
			return s
		}
	}
	return nil
}

// Len returns the number of points of the longest series.
func (tl Timeline) Len() int {
	n := 0
	for _, s := range tl.Series {
		n = max(n, len(s.Values))
	}
	return n
}

// TimeAt returns the start of point i.
func (tl Timeline) TimeAt(i int) time.Time { return tl.Start.Add(time.Duration(i) * tl.Step) }

// Values is a series of numbers in which NaN means "no data": it is written
// to JSON as null and read back as NaN.
type Values []float64

// MarshalJSON implements json.Marshaler.
func (v Values) MarshalJSON() ([]byte, error) {
	out := make([]*float64, len(v))
	for i := range v {
		if !math.IsNaN(v[i]) && !math.IsInf(v[i], 0) {
			out[i] = &v[i]
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Values) UnmarshalJSON(b []byte) error {
	var in []*float64
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := make(Values, len(in))
	for i, p := range in {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	*v = out
	return nil
}
