package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Gate makes a run one generator's share of a distributed run (package
// distributed): the run initialises its VUs, then calls Open and starts
// its scenarios when Open returns. The run does not run setup or
// teardown, watch the target's telemetry, or evaluate thresholds: the
// coordinator does, once, for the whole run. It still tracks the
// thresholds' sub-metrics, for the coordinator to evaluate them.
type Gate interface {
	// Open blocks until the scenarios may start. It returns the run's time
	// zero (the coordinator's, on this clock: the generators' per-second
	// bins line up with it) and setup()'s data. An error ends the run
	// before it starts.
	Open(ctx context.Context) (zero time.Time, setupData json.RawMessage, err error)
}

// Remote runs a plan's scenarios on other generators (package
// distributed). A run with a Remote is the coordinator of a distributed
// run: it runs setup and teardown once, here, calls Execute in between,
// evaluates thresholds every second on the merged measurements, aborts on
// abortOnFail, and builds the Result from what the generators sent, as
// one process running the whole plan would.
type Remote interface {
	// Execute runs the scenarios on the generators and returns when every
	// generator is done or lost. It reports into run. ctx ends when the
	// run stops early: with cause [scenarios.ErrHardStop] the generators
	// must stop at once, with another cause gracefully. An error means the
	// run could not execute (a generator never joined).
	Execute(ctx context.Context, run *RemoteRun, setupData json.RawMessage) error
}

// RemoteRun is the coordinator's side of a run whose scenarios run on
// other generators: a [Remote] reports what they measured and did into
// it. It is safe for concurrent use.
type RemoteRun struct {
	r *run

	mu        sync.Mutex
	progress  map[string][]scenarios.Progress
	generator map[string]GeneratorHealth
	vusMax    map[string]float64 // each generator's latest vus_max
}

// Zero returns the run's time zero; generators' partials are binned by
// seconds from it.
func (rr *RemoteRun) Zero() time.Time { return rr.r.start }

// Merge folds one generator's partial into the run. generator names the
// partial's source: its scenario progress and health replace that
// generator's previous ones. Partials of one generator may come in any
// order.
func (rr *RemoteRun) Merge(generator string, p *Partial) error {
	r := rr.r
	p.coll.totals.Remove(metrics.VUs, metrics.VUsMax) // summed per second instead
	if err := r.totals.Merge(p.coll.totals); err != nil {
		return fmt.Errorf("generator %s: %w", generator, err)
	}
	r.coll.merge(p.coll)
	r.errMu.Lock()
	for msg, n := range p.errs {
		msg = shortName(msg) // a partial comes from another process
		if _, ok := r.iterErrs[msg]; !ok && len(r.iterErrs) >= MaxIterationErrors {
			msg = "(other)"
		}
		r.iterErrs[msg] += n
	}
	r.errMu.Unlock()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if p.scenarios != nil {
		rr.progress[generator] = p.scenarios
	}
	rr.generator[generator] = p.generator
	latest := int64(-1)
	for i, b := range p.coll.bins {
		if i > latest && !math.IsNaN(b.vusMax) {
			latest = i
			rr.vusMax[generator] = b.vusMax
		}
	}
	return nil
}

// Metric returns the run's metric called name, registering it with the
// given types if the coordinator's own program did not: the metric of a
// sample a generator forwards.
func (rr *RemoteRun) Metric(name string, typ metrics.MetricType, contains metrics.ValueType) (*metrics.Metric, error) {
	if m := rr.r.registry.Get(name); m != nil {
		return m, nil
	}
	return rr.r.registry.Register(name, typ, contains)
}

// Forward hands samples a generator measured to the run's outputs (its
// NDJSON or CSV files), and to them only: the generator's partials carry
// what they measured into the Result. Forward takes ownership of samples,
// whose metrics must come from [RemoteRun.Metric]. Call it only during
// Remote.Execute; it waits while the outputs are busy. The generators'
// own vus and vus_max are not forwarded: the coordinator writes their sums
// every second, as one process writes its own.
func (rr *RemoteRun) Forward(samples []metrics.Sample) {
	if len(rr.r.outputs) > 0 && len(samples) > 0 {
		rr.r.forwarded <- samples
	}
}

// forwardVUs writes the vus and vus_max of all generators to the outputs.
func (rr *RemoteRun) forwardVUs(now time.Time) {
	r := rr.r
	var active int64
	for _, p := range rr.scenarioProgress(r.scenarios) {
		active += p.ActiveVUs
	}
	rr.mu.Lock()
	var vusMax float64
	for _, v := range rr.vusMax {
		vusMax += v
	}
	rr.mu.Unlock()
	rr.Forward([]metrics.Sample{
		{Metric: r.builtin.vus, Time: now, Value: float64(active), Tags: r.runTags},
		{Metric: r.builtin.vusMax, Time: now, Value: vusMax, Tags: r.runTags},
	})
}

// Abort stops the run at once, as an abortOnFail threshold does; the
// first abort wins.
func (rr *RemoteRun) Abort(by AbortSource, reason string) { rr.r.abort(by, reason) }

// MarkFailed marks the run failed, as a script's exec.test.fail() does.
func (rr *RemoteRun) MarkFailed(reason string) { rr.r.markFailed(reason) }

// Warn adds a warning to the Result.
func (rr *RemoteRun) Warn(msg string) { rr.r.warn("%s", msg) }

// scenarioProgress sums the generators' progress per scenario: VUs and
// iterations add up, time is the furthest generator's, and a scenario is
// done when every generator that reported it is.
func (rr *RemoteRun) scenarioProgress(order []*scenarioRun) []scenarios.Progress {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := make([]scenarios.Progress, 0, len(order))
	for _, sc := range order {
		sum := scenarios.Progress{Scenario: sc.name, Executor: sc.progress().Executor, Done: len(rr.progress) > 0}
		for _, ps := range rr.progress {
			for _, p := range ps {
				if p.Scenario != sc.name {
					continue
				}
				sum.Duration = max(sum.Duration, p.Duration)
				sum.Elapsed = max(sum.Elapsed, p.Elapsed)
				sum.Fraction = max(sum.Fraction, p.Fraction)
				sum.ActiveVUs += p.ActiveVUs
				sum.MaxVUs += p.MaxVUs
				sum.Completed += p.Completed
				sum.Interrupted += p.Interrupted
				sum.Dropped += p.Dropped
				sum.Done = sum.Done && p.Done
			}
		}
		out = append(out, sum)
	}
	return out
}

// generatorHealth is the busiest generator's health: the one that tells
// whether load generation held the run back.
func (rr *RemoteRun) generatorHealth() GeneratorHealth {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	var g GeneratorHealth
	for _, h := range rr.generator {
		g.CPUs = max(g.CPUs, h.CPUs)
		g.CPUAvg = math.Max(g.CPUAvg, h.CPUAvg)
		g.CPUMax = math.Max(g.CPUMax, h.CPUMax)
		g.RSSMaxBytes = math.Max(g.RSSMaxBytes, h.RSSMaxBytes)
	}
	return g
}
