package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Run is one side of a comparison: a Result and the findings of its
// analysis (nil when it was not analysed: then no finding is new or
// resolved on that side's account).
type Run struct {
	Result   loadtest.Result
	Findings []anomaly.Finding
}

// CompareOptions tune [Compare]. The zero value is the default.
type CompareOptions struct {
	// NoiseFloor is the smallest relative change that counts as a change;
	// default 0.05 (5 %).
	NoiseFloor float64
	// Alpha is the significance level of the test; default 0.05.
	Alpha float64
}

func (o CompareOptions) withDefaults() CompareOptions {
	if o.NoiseFloor <= 0 {
		o.NoiseFloor = 0.05
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.05
	}
	return o
}

// Outcome is what a comparison says of one metric or of the whole run.
type Outcome string

// Outcomes.
const (
	// OutcomeBetter: the change is beyond the noise floor, significant
	// where it could be tested, and in the good direction.
	OutcomeBetter Outcome = "better"
	// OutcomeWorse: as OutcomeBetter, in the bad direction.
	OutcomeWorse Outcome = "worse"
	// OutcomeNoChange: within the noise floor, or not significant.
	OutcomeNoChange Outcome = "no_change"
	// OutcomeNoData: one of the runs has no value for the metric.
	OutcomeNoData Outcome = "no_data"
)

// Tests named in MetricDelta.Test.
const (
	// TestWelchBlocks is Welch's t-test on the 10-second means of the two
	// runs' per-second series (blocks damp the series' autocorrelation).
	TestWelchBlocks = "welch-t on 10 s means"
	// TestWelchSeconds is Welch's t-test on the per-second values, used
	// when a run is too short for three 10-second blocks.
	TestWelchSeconds = "welch-t on 1 s values"
)

// Comparison compares a run (Current) with an earlier one (Base). It is
// plain data and serialises to JSON.
type Comparison struct {
	Base    RunRef `json:"base"`
	Current RunRef `json:"current"`
	// Outcome is OutcomeWorse when any metric is worse, a threshold newly
	// fails or a new finding is of medium severity or more; OutcomeBetter
	// when something is better and nothing worse; else OutcomeNoChange.
	Outcome Outcome `json:"outcome"`
	// NoiseFloor and Alpha are the options the comparison used.
	NoiseFloor float64 `json:"noise_floor"`
	Alpha      float64 `json:"alpha"`
	// Metrics are the run-wide metrics, then per-endpoint ones (endpoints
	// in both runs, by the current run's order).
	Metrics []MetricDelta `json:"metrics"`
	// Thresholds lists the current run's thresholds with the base run's
	// verdict of the same threshold.
	Thresholds []ThresholdChange `json:"thresholds,omitempty"`
	// NewFindings are the current run's findings whose kind, metric and
	// tags no base finding has; ResolvedFindings the base run's findings
	// that the current run no longer has.
	NewFindings      []anomaly.Finding `json:"new_findings"`
	ResolvedFindings []anomaly.Finding `json:"resolved_findings"`
	// Warnings say why the runs may not be comparable: different test
	// names or types.
	Warnings []string `json:"warnings,omitempty"`
}

// RunRef identifies a compared run.
type RunRef struct {
	Name     string          `json:"name,omitempty"`
	Start    time.Time       `json:"start"`
	Duration time.Duration   `json:"duration_ns"`
	Status   loadtest.Status `json:"status"`
}

// MetricDelta is one metric in both runs.
type MetricDelta struct {
	// Metric is spelled as in findings ("http_req_duration.p95"); Tags
	// narrow it to an endpoint ({"name": "GET /"}).
	Metric string            `json:"metric"`
	Tags   map[string]string `json:"tags,omitempty"`
	Label  string            `json:"label"`
	// Unit is "ms", "ratio" (0…1), "1/s" or "" (a count).
	Unit           string `json:"unit,omitempty"`
	HigherIsBetter bool   `json:"higher_is_better"`
	// Base and Current are the runs' end-of-test values; absent with
	// OutcomeNoData.
	Base    *float64 `json:"base,omitempty"`
	Current *float64 `json:"current,omitempty"`
	// Delta is Current − Base; Change is Delta / Base (absent when Base is
	// 0).
	Delta  *float64 `json:"delta,omitempty"`
	Change *float64 `json:"change,omitempty"`
	// Test names the significance test run on the per-second series
	// (TestWelchBlocks, TestWelchSeconds), "" when there were too few
	// samples; PValue is its two-sided p-value.
	Test   string   `json:"test,omitempty"`
	PValue *float64 `json:"p_value,omitempty"`
	// Significant is set when the test ran and PValue <= Alpha.
	Significant bool    `json:"significant"`
	Outcome     Outcome `json:"outcome"`
}

// ThresholdChange is a threshold's verdict in both runs.
type ThresholdChange struct {
	Metric    string `json:"metric"`
	Threshold string `json:"threshold"`
	// Base is "" when the base run had no such threshold.
	Base    string `json:"base,omitempty"`
	Current string `json:"current"`
	// Observed is the current run's value, absent with no data.
	Observed *float64 `json:"observed,omitempty"`
}

// Changed reports whether the verdict differs between the runs.
func (t ThresholdChange) Changed() bool { return t.Base != t.Current }

// compared describes how to read one run-wide metric.
type compared struct {
	metric, label, unit string
	higherBetter        bool
	absFloor            float64 // smallest absolute change that counts
	source, agg         string  // the summary metric and aggregation of its value
	series              string
	transform           func(float64) float64 // applied to series values
}

var comparedMetrics = []compared{
	{metric: "http_req_duration.avg", label: "latency avg", unit: "ms", source: "http_req_duration", agg: "avg", series: loadtest.SeriesLatencyAvg},
	{metric: "http_req_duration.p50", label: "latency p50", unit: "ms", source: "http_req_duration", agg: "med", series: loadtest.SeriesLatencyP50},
	{metric: "http_req_duration.p90", label: "latency p90", unit: "ms", source: "http_req_duration", agg: "p(90)", series: loadtest.SeriesLatencyP90},
	{metric: "http_req_duration.p95", label: "latency p95", unit: "ms", source: "http_req_duration", agg: "p(95)", series: loadtest.SeriesLatencyP95},
	{metric: "http_req_duration.p99", label: "latency p99", unit: "ms", source: "http_req_duration", agg: "p(99)", series: loadtest.SeriesLatencyP99},
	{metric: "http_req_failed", label: "error rate", unit: "ratio", absFloor: 0.001, source: "http_req_failed", agg: "rate", series: loadtest.SeriesFailedRate},
	{metric: "http_reqs", label: "throughput", unit: "1/s", higherBetter: true, source: "http_reqs", agg: "rate", series: loadtest.SeriesRequests},
	{metric: "iterations", label: "iterations", unit: "1/s", higherBetter: true, source: "iterations", agg: "rate", series: loadtest.SeriesIterations},
	{metric: "checks", label: "checks passed", unit: "ratio", higherBetter: true, absFloor: 0.001, source: "checks", agg: "rate",
		series: loadtest.SeriesChecksFail, transform: func(v float64) float64 { return 1 - v }},
	{metric: "dropped_iterations", label: "dropped iterations", absFloor: 1, source: "dropped_iterations", agg: "count", series: loadtest.SeriesDropped},
}

// Compare compares cur with base: every run-wide metric and every endpoint
// the two runs share (p95 latency and error rate), threshold verdicts, and
// new and resolved findings. A metric changed when its end-of-test value
// moved by at least the noise floor (and by a per-metric absolute floor
// for rates and counts) and, where both runs have enough per-second
// samples, Welch's t-test on them says so at level Alpha.
//
// It is pure and deterministic.
func Compare(base, cur Run, opts CompareOptions) Comparison {
	o := opts.withDefaults()
	c := Comparison{
		Base:             ref(base.Result),
		Current:          ref(cur.Result),
		NoiseFloor:       o.NoiseFloor,
		Alpha:            o.Alpha,
		NewFindings:      []anomaly.Finding{},
		ResolvedFindings: []anomaly.Finding{},
	}
	for _, m := range comparedMetrics {
		bv, bok := base.Result.Metric(m.source).Value(m.agg)
		cv, cok := cur.Result.Metric(m.source).Value(m.agg)
		d := MetricDelta{Metric: m.metric, Label: m.label, Unit: m.unit, HigherIsBetter: m.higherBetter}
		if !bok && !cok {
			continue // neither run has it: nothing to say
		}
		bs := seriesOf(base.Result, m.series, nil, m.transform)
		cs := seriesOf(cur.Result, m.series, nil, m.transform)
		c.Metrics = append(c.Metrics, judge(d, bv, bok, cv, cok, bs, cs, m.absFloor, o))
	}
	c.Metrics = append(c.Metrics, compareEndpoints(base.Result, cur.Result, o)...)
	c.Thresholds = compareThresholds(base.Result.Thresholds, cur.Result.Thresholds)
	if base.Findings != nil && cur.Findings != nil {
		c.NewFindings = findingsNotIn(cur.Findings, base.Findings)
		c.ResolvedFindings = findingsNotIn(base.Findings, cur.Findings)
	}
	c.Outcome = c.overall()
	if b, cu := base.Result.Name, cur.Result.Name; b != cu {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the runs are of different tests: base %q, current %q", b, cu))
	}
	if b, cu := base.Result.TestType, cur.Result.TestType; b != "" && cu != "" && b != cu {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the runs are of different test types: base %s, current %s", b, cu))
	}
	return c
}

// Regressions lists what got worse beyond doubt: thresholds that passed
// in the base run (or were not there) and fail now, and metrics that are
// worse where a significance test could say so. New findings and changes
// judged on the noise floor alone are not regressions (they may still make
// the Outcome worse).
func (c Comparison) Regressions() []string {
	var out []string
	for _, t := range c.Thresholds {
		if t.Current == metrics.Failed.String() && t.Base != t.Current {
			base := t.Base
			if base == "" {
				base = "absent"
			}
			out = append(out, fmt.Sprintf("threshold %s '%s': %s → %s", t.Metric, t.Threshold, base, t.Current))
		}
	}
	for _, m := range c.Metrics {
		if m.Outcome == OutcomeWorse && m.Significant {
			out = append(out, fmt.Sprintf("%s: %s → %s (%s, p = %s)", m.Name(), optValue(m.Base, m.Unit), optValue(m.Current, m.Unit),
				formatChange(m.Change), formatP(m.PValue)))
		}
	}
	return out
}

func ref(r loadtest.Result) RunRef {
	return RunRef{Name: r.Name, Start: r.Start, Duration: r.Duration, Status: r.Status}
}

// compareEndpoints compares the p95 latency and error rate of endpoints in
// both runs.
func compareEndpoints(base, cur loadtest.Result, o CompareOptions) []MetricDelta {
	byName := make(map[string]loadtest.EndpointStats, len(base.Endpoints))
	for _, e := range base.Endpoints {
		byName[e.Method+" "+e.Name] = e
	}
	var out []MetricDelta
	for _, ce := range cur.Endpoints {
		be, ok := byName[ce.Method+" "+ce.Name]
		if !ok {
			continue
		}
		tags := map[string]string{"name": ce.Name}
		bp, bok := be.Duration["p(95)"]
		cp, cok := ce.Duration["p(95)"]
		d := MetricDelta{Metric: "http_req_duration.p95", Tags: tags, Label: "latency p95", Unit: "ms"}
		out = append(out, judge(d, bp, bok && finiteNum(bp), cp, cok && finiteNum(cp),
			seriesOf(base, loadtest.SeriesLatencyP95, tags, nil), seriesOf(cur, loadtest.SeriesLatencyP95, tags, nil), 0, o))
		d = MetricDelta{Metric: "http_req_failed", Tags: tags, Label: "error rate", Unit: "ratio"}
		out = append(out, judge(d, failRate(be), be.Requests > 0, failRate(ce), ce.Requests > 0,
			seriesOf(base, loadtest.SeriesFailedRate, tags, nil), seriesOf(cur, loadtest.SeriesFailedRate, tags, nil), 0.001, o))
	}
	return out
}

func failRate(e loadtest.EndpointStats) float64 {
	if e.Requests == 0 {
		return 0
	}
	return float64(e.Failed) / float64(e.Requests)
}

// judge fills in d's values, test and outcome.
func judge(d MetricDelta, bv float64, bok bool, cv float64, cok bool, bs, cs []float64, absFloor float64, o CompareOptions) MetricDelta {
	if !bok || !cok {
		d.Outcome = OutcomeNoData
		if bok {
			d.Base = &bv
		}
		if cok {
			d.Current = &cv
		}
		return d
	}
	delta := cv - bv
	d.Base, d.Current, d.Delta = &bv, &cv, &delta
	beyond := delta != 0 && math.Abs(delta) >= absFloor
	if bv != 0 {
		ch := delta / bv
		d.Change = &ch
		beyond = beyond && math.Abs(ch) >= o.NoiseFloor
	}
	if p, test, ok := significance(bs, cs); ok {
		d.Test, d.PValue = test, &p
		d.Significant = p <= o.Alpha
		beyond = beyond && d.Significant
	}
	switch {
	case !beyond:
		d.Outcome = OutcomeNoChange
	case (delta > 0) == d.HigherIsBetter:
		d.Outcome = OutcomeBetter
	default:
		d.Outcome = OutcomeWorse
	}
	return d
}

// seriesOf returns the finite values of a run's per-second series.
func seriesOf(r loadtest.Result, name string, tags map[string]string, transform func(float64) float64) []float64 {
	s := r.Timeline.Find(name, tags)
	if s == nil {
		return nil
	}
	out := make([]float64, 0, len(s.Values))
	for _, v := range s.Values {
		if finiteNum(v) {
			if transform != nil {
				v = transform(v)
			}
			out = append(out, v)
		}
	}
	return out
}

// significance runs Welch's t-test on 10-second means of a and b, or on
// their values when either has fewer than three blocks.
func significance(a, b []float64) (p float64, test string, ok bool) {
	const block = 10
	if len(a) >= 3*block && len(b) >= 3*block {
		p, _ := stats.Welch(stats.BlockMeans(a, block), stats.BlockMeans(b, block))
		return p, TestWelchBlocks, true
	}
	if len(a) >= 5 && len(b) >= 5 {
		p, _ := stats.Welch(a, b)
		return p, TestWelchSeconds, true
	}
	return 0, "", false
}

func compareThresholds(base, cur []metrics.Verdict) []ThresholdChange {
	prev := make(map[string]string, len(base))
	for _, v := range base {
		prev[v.Metric+"\x00"+v.Threshold.Source] = v.Status.String()
	}
	var out []ThresholdChange
	for _, v := range cur {
		tc := ThresholdChange{Metric: v.Metric, Threshold: v.Threshold.Source,
			Base: prev[v.Metric+"\x00"+v.Threshold.Source], Current: v.Status.String()}
		if v.Status != metrics.NoData && finiteNum(v.Observed) {
			obs := v.Observed
			tc.Observed = &obs
		}
		out = append(out, tc)
	}
	return out
}

// findingKey identifies a finding across runs: kind, metric and tags.
func findingKey(f anomaly.Finding) string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	b.WriteByte(0)
	b.WriteString(f.Metric)
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(f.Tags[k])
	}
	return b.String()
}

// findingsNotIn returns the findings of fs whose key none of other has.
func findingsNotIn(fs, other []anomaly.Finding) []anomaly.Finding {
	seen := make(map[string]bool, len(other))
	for _, f := range other {
		seen[findingKey(f)] = true
	}
	out := []anomaly.Finding{}
	for _, f := range fs {
		if !seen[findingKey(f)] {
			out = append(out, f)
		}
	}
	return out
}

func (c Comparison) overall() Outcome {
	better, worse := false, false
	for _, m := range c.Metrics {
		better = better || m.Outcome == OutcomeBetter
		worse = worse || m.Outcome == OutcomeWorse
	}
	for _, t := range c.Thresholds {
		worse = worse || (t.Current == metrics.Failed.String() && t.Base != t.Current)
		better = better || (t.Base == metrics.Failed.String() && t.Current == metrics.Passed.String())
	}
	for _, f := range c.NewFindings {
		worse = worse || f.Severity >= anomaly.SeverityMedium
	}
	for _, f := range c.ResolvedFindings {
		better = better || f.Severity >= anomaly.SeverityMedium
	}
	switch {
	case worse:
		return OutcomeWorse
	case better:
		return OutcomeBetter
	}
	return OutcomeNoChange
}

// Baseline returns the run of history that cur is compared with, and
// false when there is none. It is loadlens's one baseline rule, which the
// CLI, the agent's GET /load-test/{id}/compare/baseline and its AI analysis
// all follow (store.Baseline applies it in SQL, after a run the tenant
// marked as the baseline):
//
//   - only runs of the same test that started before cur count: cur's name
//     (any name when cur has none) and its test type (when both have one);
//   - the latest of them that passed;
//   - failing that, the latest that ran to its end with failed thresholds
//     or marked failed;
//   - aborted and errored runs are never a baseline.
func Baseline(history []loadtest.Result, cur loadtest.Result) (loadtest.Result, bool) {
	var best, fallback *loadtest.Result
	for i := range history {
		h := &history[i]
		if !sameTest(*h, cur) || !h.Start.Before(cur.Start) {
			continue
		}
		switch h.Status {
		case loadtest.StatusPassed:
			if best == nil || h.Start.After(best.Start) {
				best = h
			}
		case loadtest.StatusThresholdsFailed, loadtest.StatusMarkedFailed:
			if fallback == nil || h.Start.After(fallback.Start) {
				fallback = h
			}
		}
	}
	switch {
	case best != nil:
		return *best, true
	case fallback != nil:
		return *fallback, true
	}
	return loadtest.Result{}, false
}

// sameTest reports whether h is a run of cur's test, as Baseline reads it.
func sameTest(h, cur loadtest.Result) bool {
	if cur.Name != "" && h.Name != cur.Name {
		return false
	}
	return cur.TestType == "" || h.TestType == "" || h.TestType == cur.TestType
}

func finiteNum(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
