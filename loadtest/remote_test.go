package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// inProcessRemote runs a coordinator's scenarios on n gated generators in
// this process, each on its execution segment, their partials going
// through the wire form: package distributed does the same over NATS.
type inProcessRemote struct {
	n       int
	plan    func() Plan // a generator's plan
	results []Result
	outputs []*wireOutput
}

func (ir *inProcessRemote) Execute(ctx context.Context, rr *RemoteRun, data json.RawMessage) error {
	ir.results, ir.outputs = make([]Result, ir.n), make([]*wireOutput, ir.n)
	seq := scenarios.EqualSegments(ir.n)
	var wg sync.WaitGroup
	errs := make([]error, ir.n)
	for i := range ir.n {
		wg.Go(func() {
			plan := ir.plan()
			plan.Options.ExecutionSegment = seq[i].String()
			plan.Options.ExecutionSegmentSequence = seq.String()
			plan.Gate = gateAt{rr.Zero(), data}
			out := &wireOutput{into: rr, name: fmt.Sprint(i)}
			ir.outputs[i] = out
			ir.results[i], errs[i] = Run(ctx, plan, out)
			if errs[i] == nil {
				errs[i] = out.err
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type gateAt struct {
	zero time.Time
	data json.RawMessage
}

func (g gateAt) Open(context.Context) (time.Time, json.RawMessage, error) { return g.zero, g.data, nil }

// wireOutput sends each partial through MarshalBinary and UnmarshalBinary
// to the coordinator, and notes each one's size and iterations.
type wireOutput struct {
	into     *RemoteRun
	name     string
	err      error
	partials []wirePartial
}

type wirePartial struct {
	bytes      int
	iterations float64
}

func (w *wireOutput) Start(RunInfo) error         { return nil }
func (w *wireOutput) AddSamples([]metrics.Sample) {}
func (w *wireOutput) Stop(Result) error           { return nil }
func (w *wireOutput) Partial(p *Partial) {
	b, err := p.MarshalBinary()
	if err == nil {
		var q Partial
		if err = q.UnmarshalBinary(b); err == nil {
			wp := wirePartial{bytes: len(b)}
			q.coll.totals.View(func(sinks metrics.SinkSource) {
				if c, ok := sinks.Sink(metrics.Iterations).(*metrics.CounterSink); ok {
					wp.iterations = c.Sum
				}
			})
			w.partials = append(w.partials, wp)
			err = w.into.Merge(w.name, &q)
		}
	}
	if err != nil && w.err == nil {
		w.err = err
	}
}

// A plan split over three gated generators and merged by a coordinator
// gives the Result of one process: exact iterations, checks, groups,
// custom trends (every value is the same multiset), thresholds evaluated
// on the merged metrics, setup and teardown once.
func TestRemoteRunMergesGeneratorsAsOneProcess(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		newPlan := func(calls *atomic.Int64, prog *setupProgram) Plan {
			return Plan{
				Scenarios: scenarios.Scenarios{
					"shared": scenarios.SharedIterations{VUs: 5, Iterations: 1000},
					"per_vu": scenarios.PerVUIterations{Common: scenarios.Common{Exec: "perVU"}, VUs: 6, Iterations: 7},
				},
				Metrics: []metrics.Metric{{Name: "my_trend", Type: metrics.Trend, Contains: metrics.Time}},
				// Only the merged count reaches 1000: each generator's own
				// share would fail it, as k6-operator's per-runner thresholds do.
				Thresholds: mustThresholds(t, `{"iterations{scenario:shared}": ["count>=1000"],
					"my_trend": ["max==1042", "min==1"], "checks{check:odd}": ["rate<0.51"]}`),
				Program: &remoteProgram{calls: calls, setup: prog},
			}
		}
		var singleCalls, distCalls atomic.Int64
		single, err := Run(t.Context(), newPlan(&singleCalls, &setupProgram{}))
		require.NoError(t, err)

		coordProg := &setupProgram{}
		generatorProg := &setupProgram{}
		remote := &inProcessRemote{n: 3, plan: func() Plan { return newPlan(&distCalls, generatorProg) }}
		plan := newPlan(&distCalls, coordProg)
		plan.Remote = remote
		dist, err := Run(t.Context(), plan)
		require.NoError(t, err)

		assert.Equal(t, StatusPassed, dist.Status, "%+v", dist.Thresholds)
		assert.Equal(t, single.Status, dist.Status)
		assert.Equal(t, int64(1042), distCalls.Load())
		assert.Equal(t, `{"token":"abc"}`, coordProg.teardownData, "teardown ran on the coordinator with setup's data")
		assert.Empty(t, generatorProg.teardownData, "no generator ran teardown")
		assert.Equal(t, int64(1042), generatorProg.seen.Load(), "every iteration saw the coordinator's setup data")
		for _, key := range []string{"iterations", "my_trend", "checks", "checks{check:odd}", "iterations{scenario:shared}"} {
			assert.Equal(t, single.Metrics[key].Values, dist.Metrics[key].Values, key)
		}
		assert.Equal(t, single.RootGroup, dist.RootGroup)
		var completed uint64
		for i, p := range dist.Scenarios {
			assert.Equal(t, single.Scenarios[i].Completed, p.Completed, p.Scenario)
			completed += p.Completed
		}
		assert.Equal(t, uint64(1042), completed)
		for _, r := range remote.results {
			assert.Less(t, r.Metrics["iterations"].Values["count"], 1000.0, "each generator ran a share")
			assert.Empty(t, r.Thresholds, "generators do not evaluate thresholds")
		}
		iters := dist.Timeline.Find(SeriesIterations, nil)
		require.NotNil(t, iters)
		var sum float64
		for _, v := range iters.Values {
			sum += v
		}
		assert.Equal(t, 1042.0, sum, "the merged timeline holds every iteration")
		trend := dist.Timeline.Find(SeriesCustomP95, map[string]string{"metric": "my_trend"})
		require.NotNil(t, trend, "custom metrics' series come through the wire")
		assert.Equal(t, single.Timeline.Find(SeriesCustomP95, map[string]string{"metric": "my_trend"}).Unit, trend.Unit)
	})
}

// Once a generator's own totals of a trend are past
// metrics.TrendExactLimit, its partials carry the trend's sketch instead
// of its values: the coordinator holds a sketch there by then, so the
// merged Result is still the one process's, bit for bit, and a partial
// costs far less than the 8 bytes a value and trend of the exact form.
func TestRemotePartialsSketchPastTheExactLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		newPlan := func() Plan {
			return Plan{
				// 4 000 iterations a second for 3 s: each of two generators
				// passes the limit in its third partial.
				Scenarios: scenarios.Scenarios{"s": scenarios.PerVUIterations{VUs: 4, Iterations: 3000}},
				Metrics:   []metrics.Metric{{Name: "my_trend", Type: metrics.Trend, Contains: metrics.Time}},
				Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
					if err := vu.Add("my_trend", float64(n.Add(1)), nil); err != nil {
						return err
					}
					return vu.Sleep(ctx, time.Millisecond)
				}},
			}
		}
		single, err := Run(t.Context(), newPlan())
		require.NoError(t, err)
		n.Store(0)
		remote := &inProcessRemote{n: 2, plan: newPlan}
		plan := newPlan()
		plan.Remote = remote
		dist, err := Run(t.Context(), plan)
		require.NoError(t, err)
		for _, key := range []string{"iterations", "my_trend"} {
			assert.Equal(t, single.Metrics[key].Values, dist.Metrics[key].Values, key)
		}
		for i, out := range remote.outputs {
			var total float64
			sketched := 0
			for k, p := range out.partials {
				total += p.iterations
				if p.iterations < 1000 {
					continue // the last few iterations, at the end
				}
				// my_trend and iteration_duration: 16 bytes a value exact.
				exact := 16 * int(p.iterations)
				if total <= metrics.TrendExactLimit {
					assert.Greater(t, p.bytes, exact, "generator %d, partial %d: values, not yet a sketch", i, k)
					continue
				}
				sketched++
				assert.Less(t, p.bytes, exact/4, "generator %d, partial %d: %v iterations", i, k, p.iterations)
			}
			assert.Equal(t, 6000.0, total, "generator %d", i)
			assert.Positive(t, sketched, "generator %d passed the limit", i)
		}
	})
}

// remoteProgram runs each iteration as a check and a trend value numbered
// by a counter shared by every generator: the multiset of values is the
// same however the iterations are split.
type remoteProgram struct {
	calls *atomic.Int64
	setup *setupProgram
}

func (p *remoteProgram) NewVU(ctx context.Context, vu *VU) (VUCode, error) {
	code, _ := p.setup.NewVU(ctx, vu)
	return remoteVU{p, vu, code}, nil
}
func (p *remoteProgram) Setup(ctx context.Context, vu *VU) (json.RawMessage, error) {
	return p.setup.Setup(ctx, vu)
}
func (p *remoteProgram) Teardown(ctx context.Context, vu *VU, data json.RawMessage) error {
	return p.setup.Teardown(ctx, vu, data)
}
func (p *remoteProgram) Execs() []string { return []string{"default", "perVU"} }

type remoteVU struct {
	p     *remoteProgram
	vu    *VU
	inner VUCode
}

func (r remoteVU) Run(ctx context.Context, exec string) error {
	n := r.p.calls.Add(1)
	if err := r.inner.Run(ctx, exec); err != nil {
		return err
	}
	return r.vu.Group("g", func() error {
		r.vu.Check("odd", n%2 == 1)
		return r.vu.Add("my_trend", float64(n), nil)
	})
}

// lastWordRemote forwards batches of a generator's samples just before the
// remote part of the run ends, as a coordinator does with the last samples
// a runner publishes.
type lastWordRemote struct{ batches int }

func (lw lastWordRemote) Execute(_ context.Context, rr *RemoteRun, _ json.RawMessage) error {
	m, err := rr.Metric("my_counter", metrics.Counter, metrics.Default)
	if err != nil {
		return err
	}
	for i := range lw.batches {
		rr.Forward([]metrics.Sample{{Metric: m, Time: time.Unix(int64(i), 0), Value: 1}})
	}
	return nil
}

// countingOutput counts the samples of one metric it is given.
type countingOutput struct {
	metric string
	n      atomic.Int64
}

func (c *countingOutput) Start(RunInfo) error { return nil }
func (c *countingOutput) Stop(Result) error   { return nil }
func (c *countingOutput) AddSamples(batch []metrics.Sample) {
	for i := range batch {
		if batch[i].Metric.Name == c.metric {
			c.n.Add(1)
		}
	}
}

// A coordinator's outputs get every forwarded batch, the last ones too:
// its dispatcher stopped at the run's end and dropped what was still
// queued, so the merged NDJSON of `run --runners 3` missed a runner's
// whole share now and then (TestRunWithRunners: 201 points of 301).
func TestForwardedSamplesOutliveTheRunsEnd(t *testing.T) {
	t.Parallel()
	for range 20 {
		out := &countingOutput{metric: "my_counter"}
		plan := Plan{
			Scenarios: scenarios.Scenarios{"s": scenarios.SharedIterations{VUs: 1, Iterations: 1}},
			Program:   Funcs{"default": func(context.Context, *VU) error { return nil }},
			Remote:    lastWordRemote{batches: 16},
		}
		_, err := Run(t.Context(), plan, out)
		require.NoError(t, err)
		require.EqualValues(t, 16, out.n.Load(), "forwarded samples the outputs got")
	}
}
