package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is a threshold's verdict.
type Status uint8

// Verdicts. NoData passes, as in k6, but is reported apart so that a
// threshold over samples that never came (k6 issue #4283) is visible.
const (
	Passed Status = iota + 1
	Failed
	NoData
)

var statusNames = map[Status]string{Passed: "passed", Failed: "failed", NoData: "no_data"}

// String returns "passed", "failed" or "no_data".
func (s Status) String() string { return statusNames[s] }

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) {
	if _, ok := statusNames[s]; !ok {
		return nil, fmt.Errorf("unknown status %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	for k, v := range statusNames {
		if v == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("unknown threshold status %q", b)
}

// Verdict is the outcome of one threshold at one evaluation.
type Verdict struct {
	Metric    string    `json:"metric"`    // the key as declared, e.g. "http_req_duration{status:200}"
	Threshold Threshold `json:"threshold"` // the expression
	Status    Status    `json:"status"`
	// Observed is the aggregated value compared with the bound; meaningless
	// when Status is NoData.
	Observed float64 `json:"observed"`
}

// MarshalJSON writes Observed as null when there is no data.
func (v Verdict) MarshalJSON() ([]byte, error) {
	type plain Verdict
	out := struct {
		plain
		Observed *float64 `json:"observed"`
	}{plain: plain(v)}
	if v.Status != NoData {
		out.Observed = &v.Observed
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes. A verdict without its
// threshold is refused: read as a zero threshold, it was written back as
// "" and could not be read again.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	type plain Verdict
	var in struct {
		plain
		Threshold *Threshold `json:"threshold"`
		Observed  *float64   `json:"observed"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.Threshold == nil {
		return fmt.Errorf("threshold verdict of %q: threshold: required", in.Metric)
	}
	*v = Verdict(in.plain)
	v.Threshold = *in.Threshold
	if in.Observed != nil {
		v.Observed = *in.Observed
	}
	return nil
}

// Aborts reports whether the verdict should abort a run that has lasted
// elapsed: a failed abortOnFail threshold past its delayAbortEval.
func (v Verdict) Aborts(elapsed time.Duration) bool {
	return v.Status == Failed && v.Threshold.AbortOnFail && elapsed >= v.Threshold.DelayAbortEval
}

// Evaluator checks a set of thresholds. Build it with [NewEvaluator]; it is
// immutable and safe for concurrent use.
type Evaluator struct {
	checks []thresholdCheck
}

type thresholdCheck struct {
	key    string
	metric *Metric
	th     Threshold
}

// NewEvaluator validates thresholds against the metrics in reg: each key must
// parse and name a registered metric, and each aggregation must be one k6
// allows for that metric's type. Every problem is reported at once.
func NewEvaluator(ths Thresholds, reg *Registry) (*Evaluator, error) {
	ev := &Evaluator{}
	var errs []error
	for _, key := range sortedKeys(ths) {
		sm, err := ParseMetricKey(key)
		if err != nil {
			errs = append(errs, fmt.Errorf("thresholds[%q]: %w", key, err))
			continue
		}
		m := reg.Get(sm.Parent)
		if m == nil {
			errs = append(errs, fmt.Errorf("thresholds[%q]: metric %q does not exist", key, sm.Parent))
			continue
		}
		for i, th := range ths[key] {
			if !allowedInThreshold(th.Aggregation, m.Type) {
				errs = append(errs, fmt.Errorf("thresholds[%q][%d]: %q: aggregation %q is not supported on %s metric %q; want one of %s",
					key, i, th.Source, th.Aggregation, m.Type, sm.Parent, strings.Join(allowedNames(m.Type), ", ")))
				continue
			}
			ev.checks = append(ev.checks, thresholdCheck{key: key, metric: m, th: th})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ev, nil
}

func allowedInThreshold(a Aggregation, t MetricType) bool {
	for _, name := range thresholdAggregations[t] {
		if name == a.Name {
			return true
		}
	}
	return false
}

func allowedNames(t MetricType) []string {
	names := append([]string(nil), thresholdAggregations[t]...)
	for i, n := range names {
		if n == "p" {
			names[i] = "p(N)"
		}
	}
	return names
}

// MetricKeys returns the metric keys the thresholds are declared on, for
// [NewTotals] to track their sub-metrics.
func (e *Evaluator) MetricKeys() []string {
	var keys []string
	for i, c := range e.checks {
		if i == 0 || e.checks[i-1].key != c.key {
			keys = append(keys, c.key)
		}
	}
	return keys
}

// Evaluate checks every threshold against the sinks in src after a run time
// of elapsed, in declaration-key order. During a run (final false) a metric
// without samples yields NoData; at the end an empty counter counts as 0, as
// in k6, while other empty metrics stay NoData.
func (e *Evaluator) Evaluate(src SinkSource, elapsed time.Duration, final bool) []Verdict {
	out := make([]Verdict, 0, len(e.checks))
	for _, c := range e.checks {
		v := Verdict{Metric: c.key, Threshold: c.th, Status: NoData}
		sink := src.Sink(c.key)
		if sink == nil && final {
			sink = NewSink(c.metric.Type)
		}
		if sink != nil && (final || !sink.Empty()) {
			if observed, ok := sink.Value(c.th.Aggregation, elapsed); ok {
				v.Observed = observed
				v.Status = Failed
				if c.th.Operator.Holds(observed, c.th.Bound) {
					v.Status = Passed
				}
			}
		}
		out = append(out, v)
	}
	return out
}
