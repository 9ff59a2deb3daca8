package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// ErrSetup is wrapped by the error Run returns when setup fails or times out.
var ErrSetup = errors.New("setup failed")

// setup runs the program's Setup once, on VU 0, within SetupTimeout.
func (r *run) setup(ctx context.Context) error {
	s, ok := r.program.(Setupper)
	if !ok || r.plan.Options.NoSetup {
		return nil
	}
	vu, err := r.newVU(ctx, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer vu.release()
	vu.group = "::setup"
	vu.regroup()
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.plan.Options.SetupTimeout, DefaultSetupTimeout))
	defer cancel()
	data, err := s.Setup(ctx, vu)
	vu.emitIO(time.Now())
	vu.flush()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if len(data) > 0 && !json.Valid(data) {
		return fmt.Errorf("%w: setup returned invalid JSON", ErrSetup)
	}
	r.setupData = data
	return nil
}

// teardown runs the program's Teardown once, on VU 0, within
// TeardownTimeout; its failure is a warning, as in k6.
func (r *run) teardown(ctx context.Context) {
	td, ok := r.program.(Teardowner)
	if !ok || r.plan.Options.NoTeardown {
		return
	}
	vu, err := r.newVU(ctx, 0)
	if err != nil {
		r.warn("teardown: %v", err)
		return
	}
	defer vu.release()
	vu.group = "::teardown"
	vu.regroup()
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.plan.Options.TeardownTimeout, DefaultTeardownTimeout))
	defer cancel()
	err = td.Teardown(ctx, vu, r.setupData)
	vu.emitIO(time.Now())
	vu.flush()
	if err != nil {
		r.warn("teardown: %v", err)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// finish fills the result from the aggregates, after the last sample.
func (r *run) finish(res *Result) {
	res.End = time.Now()
	res.Duration = res.End.Sub(r.start)
	res.Timeline, res.Endpoints, res.RootGroup, res.DistinctNames = r.coll.finish(res.End)
	if len(res.Endpoints) >= MaxEndpoints {
		r.warn("more than %d endpoints: the rest are summarised as %q", MaxEndpoints, otherName)
	}
	if r.coll.treeCapped() {
		r.warn("more than %d groups or %d checks: the rest are counted as %q", MaxGroups, MaxChecks, otherName)
	}
	res.Generator = r.health.summary()
	if r.remote != nil {
		res.Generator = r.remote.generatorHealth()
	}
	r.finishTarget(res)
	res.SetupData = r.setupData
	res.Scenarios = r.scenarioProgress()
	res.Metrics = r.summarise(res.Duration)
	if r.eval != nil && r.plan.Gate == nil {
		r.totals.View(func(src metrics.SinkSource) { res.Thresholds = r.eval.Evaluate(src, res.Duration, true) })
	}
	r.errMu.Lock()
	for msg, n := range r.iterErrs {
		res.IterationErrors = append(res.IterationErrors, ErrorCount{Message: msg, Count: n})
	}
	r.errMu.Unlock()
	sort.Slice(res.IterationErrors, func(i, j int) bool {
		a, b := res.IterationErrors[i], res.IterationErrors[j]
		return a.Count > b.Count || a.Count == b.Count && a.Message < b.Message
	})
	res.Abort = r.aborted.Load()
	if f := r.failedBy.Load(); f != nil {
		res.FailedBy = *f
	}
	r.warnMu.Lock()
	res.Warnings = append(res.Warnings, r.warnings...)
	r.warnMu.Unlock()
	res.Status = r.status(res)
}

func (r *run) status(res *Result) Status {
	if res.Status == StatusErrored {
		return StatusErrored
	}
	for _, v := range res.Thresholds {
		if v.Status == metrics.Failed {
			return StatusThresholdsFailed
		}
	}
	if res.Abort != nil && res.Abort.By != AbortByThreshold {
		return StatusAborted
	}
	if res.FailedBy != "" {
		return StatusMarkedFailed
	}
	return StatusPassed
}

// summarise aggregates every metric and tracked sub-metric as k6's summary.
func (r *run) summarise(elapsed time.Duration) map[string]MetricSummary {
	stats, _ := r.plan.Options.trendStats() // validated
	return summarize(r.totals, stats, elapsed)
}

// summarize aggregates every metric and sub-metric of totals as k6's
// summary, trends with stats and the percentiles the analysis reads.
func summarize(totals *metrics.Totals, stats []metrics.Aggregation, elapsed time.Duration) map[string]MetricSummary {
	trendAggs := append([]metrics.Aggregation{{Name: "count"}}, stats...)
	for _, p := range []float64{50, 90, 95, 99} {
		trendAggs = append(trendAggs, metrics.Percentile(p))
	}
	aggsOf := func(t metrics.MetricType) []metrics.Aggregation {
		switch t {
		case metrics.Counter:
			return []metrics.Aggregation{{Name: "count"}, {Name: "rate"}}
		case metrics.Gauge:
			return []metrics.Aggregation{{Name: "value"}, {Name: "min"}, {Name: "max"}}
		case metrics.Rate:
			return []metrics.Aggregation{{Name: "rate"}, {Name: "passes"}, {Name: "fails"}}
		}
		return append([]metrics.Aggregation{{Name: "avg"}, {Name: "min"}, {Name: "med"}, {Name: "max"}}, trendAggs...)
	}
	out := map[string]MetricSummary{}
	values := func(sink metrics.Sink, t metrics.MetricType) map[string]float64 {
		v := map[string]float64{}
		for _, a := range aggsOf(t) {
			if x, ok := sink.Value(a, elapsed); ok {
				v[a.String()] = x
			}
		}
		return v
	}
	ms := totals.Metrics()
	subs := totals.Submetrics()
	totals.View(func(src metrics.SinkSource) {
		types := map[string]*metrics.Metric{}
		for _, m := range ms {
			types[m.Name] = m
			out[m.Name] = MetricSummary{Type: m.Type, Contains: m.Contains, Values: values(src.Sink(m.Name), m.Type)}
		}
		for _, sm := range subs {
			m := types[sm.Parent]
			out[sm.Name] = MetricSummary{Type: m.Type, Contains: m.Contains, Values: values(src.Sink(sm.Name), m.Type),
				Submetric: &SubmetricInfo{Parent: sm.Parent, Tags: sm.Tags.Map()}}
		}
	})
	return out
}
