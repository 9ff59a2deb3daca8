package anomaly

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"time"
)

// Kind names what a [Finding] is about. Kinds are stable strings: reports,
// the agent and the Gemini analyzer match on them.
type Kind string

// Finding kinds.
const (
	// KindRunFailed: the run errored or was aborted: its numbers are
	// incomplete (critical).
	KindRunFailed Kind = "run_failed"
	// KindErrorRate: the share of failed HTTP requests over the whole run
	// is above Options.ErrorRateMedium (medium) or ErrorRateHigh (high).
	KindErrorRate Kind = "error_rate"
	// KindHighLatency: http_req_duration p(95) over the run is above
	// Options.LatencyP95.
	KindHighLatency Kind = "high_latency"
	// KindThresholdFailed: a threshold failed.
	KindThresholdFailed Kind = "threshold_failed"
	// KindThresholdNoData: a threshold had no samples to judge (it passes,
	// as in k6, but probably watches the wrong metric or tag).
	KindThresholdNoData Kind = "threshold_no_data"
	// KindEarlyFailures: more than Options.EarlyFailureRate of the first
	// Options.EarlyRequests requests failed — usually a script or
	// configuration mistake (k6 Cloud's "high HTTP failure rate").
	KindEarlyFailures Kind = "early_failure_rate"
	// KindFailureIncrease: the failure rate rose during the run by at least
	// Options.FailureIncrease over its beginning and stayed there (k6
	// Cloud's "increased HTTP failure rate").
	KindFailureIncrease Kind = "increased_failure_rate"
	// KindErrorBurst: a period of significantly more failed requests than
	// the run's baseline, found by a Bernoulli CUSUM and confirmed by a
	// binomial test.
	KindErrorBurst Kind = "error_burst"
	// KindThroughputLimit: completed requests per second stopped growing
	// while VUs kept rising (k6 Cloud's "throughput limit"); the evidence
	// holds the knee (knee_vus: the VU count where throughput stops
	// growing), the plateau's req/s, p95 before and after the knee, and the
	// target's CPU when it was pegged. One finding per episode, whether the
	// bend (method kneedle), the flat stretch (plateau) or both found it.
	KindThroughputLimit Kind = "throughput_limit"
	// KindTooManyURLs: more than Options.MaxURLs distinct URL names — URLs
	// with ids that should be grouped with a name tag.
	KindTooManyURLs Kind = "too_many_urls"
	// KindGeneratorCPU: the load generator's CPU stayed at or above
	// Options.GeneratorCPU for Options.GeneratorCPUFor or longer: its
	// measurements are suspect.
	KindGeneratorCPU Kind = "generator_cpu"
	// KindGeneratorMemory: the load generator's resident memory reached
	// Options.GeneratorRSS.
	KindGeneratorMemory Kind = "generator_memory"
	// KindTargetCPU: the target's own CPU (target.cpu_pct telemetry) stayed
	// at or above Options.TargetCPU % of Options.TargetCPUs for
	// Options.GeneratorCPUFor or longer: it is CPU-bound. Reported only
	// when TargetCPUs is known; otherwise a pegged CPU is named in the
	// throughput limit it explains.
	KindTargetCPU Kind = "target_cpu"
	// KindLatencyShift: a latency percentile stepped up inside a period of
	// steady load (CUSUM on log latency, confirmed by an E-divisive split
	// and a t-test).
	KindLatencyShift Kind = "latency_shift"
	// KindLatencyDrift: a latency percentile kept rising inside a period of
	// steady load (Mann–Kendall trend, Sen's slope).
	KindLatencyDrift Kind = "latency_drift"
	// KindLatencySpike: latency rose several-fold for a few seconds and
	// came back within Options.SpikeFor (low), or rose less than 4× and came
	// back within twice that (medium): a hiccup, not a new level.
	KindLatencySpike Kind = "latency_spike"
	// KindLatencyStall: requests stalled together, again and again: the
	// per-second max and the share of slow requests rose in short bursts,
	// with their period and length when they recur regularly (a
	// stop-the-world pause, a lock convoy).
	KindLatencyStall Kind = "latency_stall"
	// KindIterationErrors: iterations ended with an error (a script
	// exception): how many, the first message, their share of the
	// iterations, and from when.
	KindIterationErrors Kind = "iteration_errors"
	// KindNetworkErrors: requests failed without an HTTP answer (refused or
	// reset connections, timeouts, DNS): the k6 error code, its meaning,
	// the endpoint and from when.
	KindNetworkErrors Kind = "network_errors"
	// KindHostContention: other processes on the generator's machine took
	// the CPU: the generator's goroutines waited to run while its own CPU
	// was low, so latencies of that time include its wait; latency
	// findings that began then are folded into it (low).
	KindHostContention Kind = "host_contention"
	// KindLatencyDegradation: a later period of steady load had higher
	// latency than an earlier one at the same or a higher load.
	KindLatencyDegradation Kind = "latency_degradation"
	// KindMemoryLeak: the target's (or, without target telemetry, the
	// generator's) memory kept growing at steady load (Mann–Kendall trend,
	// Sen's slope in bytes per minute).
	KindMemoryLeak Kind = "memory_leak"
	// KindCoordinatedOmission: an arrival-rate executor dropped iterations
	// or started them late: the generator could not keep the schedule, and
	// latencies under-report the stall.
	KindCoordinatedOmission Kind = "coordinated_omission"
	// KindRegression: a metric is significantly worse than in previous runs
	// of the same test, beyond the noise floor.
	KindRegression Kind = "regression"
	// KindHistoryChangePoint: the run history of a metric has a change
	// point among the latest runs (Otava-style E-divisive + t-test).
	KindHistoryChangePoint Kind = "history_change_point"
)

// Severity ranks findings by impact. The zero value, SeverityNone, is only
// a report's severity when it has no findings.
type Severity int

// Severities, in increasing order of impact.
const (
	SeverityNone Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"none", "info", "low", "medium", "high", "critical"}

// String returns "none", "info", "low", "medium", "high" or "critical".
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("unknown severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", b)
}

// Blame says where a finding points: at the system under test, at the load
// generator, or at the test's own configuration.
type Blame string

// Blames.
const (
	BlameTarget    Blame = "target"
	BlameGenerator Blame = "generator"
	BlameTest      Blame = "test config"
)

// Finding is one thing that went wrong in a run: one episode, with the
// numbers that show it. It is plain data and serialises to JSON.
type Finding struct {
	// ID is stable for the same finding of the same Result: a hash of kind,
	// metric, tags and window. Other analyzers cite it as evidence.
	ID       string   `json:"id"`
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Target is what the finding blames.
	Target Blame `json:"target"`
	// Start and End are offsets from the run's start; a finding about the
	// whole run spans [0, duration].
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
	// StartTime and EndTime are the same instants on the wall clock, when
	// the Result has a start time.
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	// Metric is the series or metric the finding is about, spelled as in the
	// Result ("http_req_duration.p95", "http_req_failed").
	Metric string `json:"metric"`
	// Tags narrow the metric ({"name": "GET /api/products"}).
	Tags map[string]string `json:"tags,omitempty"`
	// Method names the test that found it ("cusum+e-divisive", "binomial",
	// "mann-kendall", "rule").
	Method string `json:"method"`
	// Evidence holds the numbers behind the finding, by name: observed,
	// baseline, threshold, change, p_value, slope… Units are in the name
	// where they are not a ratio (…_ms, …_bytes, …_per_min).
	Evidence map[string]float64 `json:"evidence"`
	// Message is one plain sentence with the numbers.
	Message string `json:"message"`
}

// makeID returns the finding's stable ID: its kind and a 32-bit FNV-1a
// hash of kind, metric, tags and window in whole seconds.
func makeID(f Finding) string {
	h := fnv.New64a()
	h.Write([]byte(f.Kind))
	h.Write([]byte{0})
	h.Write([]byte(f.Metric))
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{'='})
		h.Write([]byte(f.Tags[k]))
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(f.Start/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(f.End/time.Second))
	h.Write(b[:])
	s := h.Sum64()
	return fmt.Sprintf("%s-%08x", f.Kind, uint32(s^(s>>32)))
}

// cleanEvidence drops NaN and infinite values, which JSON cannot carry.
func cleanEvidence(ev map[string]float64) map[string]float64 {
	for k, v := range ev {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(ev, k)
		}
	}
	if ev == nil {
		ev = map[string]float64{}
	}
	return ev
}

// mergeEpisodes makes one finding per episode: findings of the same kind,
// metric and tags whose windows overlap or lie within gap of each other
// become one, with the union window, the highest severity, and the
// evidence and message of the strongest.
func mergeEpisodes(fs []Finding, gap time.Duration) []Finding {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := compareKey(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.Start, b.Start)
	})
	var out []Finding
	for _, f := range fs {
		if n := len(out); n > 0 && compareKey(out[n-1], f) == 0 && f.Start <= out[n-1].End+gap {
			last := &out[n-1]
			end := max(last.End, f.End)
			endTime := last.EndTime
			if f.EndTime.After(endTime) {
				endTime = f.EndTime
			}
			if f.Severity > last.Severity {
				start, startTime := last.Start, last.StartTime
				*last = f
				last.Start, last.StartTime = start, startTime
			}
			last.End, last.EndTime = end, endTime
			continue
		}
		out = append(out, f)
	}
	return out
}

func compareKey(a, b Finding) int {
	if a.Kind != b.Kind {
		return cmp.Compare(string(a.Kind), string(b.Kind))
	}
	if a.Metric != b.Metric {
		return cmp.Compare(a.Metric, b.Metric)
	}
	return cmp.Compare(tagKey(a.Tags), tagKey(b.Tags))
}

func tagKey(tags map[string]string) string {
	var s string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		s += k + "=" + tags[k] + "\x00"
	}
	return s
}

// rank orders findings by severity (highest first), then by start, kind
// and metric.
func rank(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return compareKey(a, b)
	})
}
