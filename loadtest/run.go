package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Intervals of the engine's periodic work, as k6.
const (
	vusInterval       = time.Second     // vus and vus_max samples
	thresholdInterval = 2 * time.Second // threshold evaluation during the run
	// remoteThresholdInterval is a coordinator's: merged metrics arrive
	// every second, and abortOnFail must stop every generator promptly.
	remoteThresholdInterval = time.Second
	progressInterval        = time.Second // snapshots for ProgressReceivers
)

// Run executes plan and returns what it measured. Samples go to the engine's
// own aggregation and to every output, in process.
//
// Run returns an error wrapping ErrInvalidPlan when the plan does not
// validate, and an error when the run could not execute (an output failed to
// start, setup failed, no VU could be initialised); the Result then holds
// what is known. A failed request or threshold is not an error: it is in the
// Result. Cancelling ctx stops the run like the end of its schedule: no new
// iterations, running ones get their scenario's gracefulStop. Run returns
// only after every goroutine it started has exited.
func Run(ctx context.Context, plan Plan, outputs ...Output) (Result, error) {
	if err := plan.Validate(); err != nil {
		return Result{Status: StatusErrored, Config: plan.Echo()}, err
	}
	r, err := newRun(plan, outputs)
	if err != nil {
		return Result{Status: StatusErrored, Config: plan.Echo()}, err
	}
	return r.execute(ctx)
}

// run is the state of one execution of a plan.
type run struct {
	plan     Plan
	program  Program
	logger   *slog.Logger
	registry *metrics.Registry
	builtin  builtinMetrics
	runTags  metrics.Tags
	sysTags  systemTags
	httpOpts k6http.Options     // the VUs' HTTP clients', resolved once (certificates parsed)
	eval     *metrics.Evaluator // nil without thresholds
	totals   *metrics.Totals
	outputs  []Output
	coll     *collector // the Result's aggregation
	ingest   *collector // where samples go: coll, or the interval's for partials
	health   *healthSampler
	target   *targetWatch // nil without telemetry

	env       map[string]string // SystemEnv under Env: what VUs see outside scenarios with an env
	scenarios []*scenarioRun
	byName    map[string]*scenarioRun
	pool      *vuPool

	samples   chan *[]metrics.Sample
	forwarded chan []metrics.Sample // a coordinator's generators' samples, for the outputs only
	batches   sync.Pool             // *[]metrics.Sample, cap flushAt
	execMu    sync.Mutex
	execBuf   []metrics.Sample // executor samples, sent in batches
	setupData []byte
	start     time.Time

	stop      context.CancelCauseFunc // ends the schedule; ErrHardStop interrupts
	abortOnce sync.Once
	aborted   atomic.Pointer[Abort]
	failedBy  atomic.Pointer[string]

	errMu     sync.Mutex
	iterErrs  map[string]int64
	warnMu    sync.Mutex
	warnings  []string
	failingMu sync.Mutex
	failing   []string

	timelineMu   sync.Mutex
	timelineFrom []int64 // per output: the first second it has not been given

	partials []PartialReceiver
	sentErrs map[string]int64 // iteration errors already in partials
	remote   *RemoteRun       // set when the scenarios run elsewhere
}

func newRun(plan Plan, outputs []Output) (*run, error) {
	logger := plan.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg, err := plan.registry()
	if err != nil {
		return nil, err
	}
	r := &run{
		plan: plan, logger: logger, registry: reg, builtin: newBuiltinMetrics(reg),
		runTags: metrics.TagsFromMap(plan.Options.Tags), sysTags: plan.Options.systemTags(), outputs: outputs,
		samples: make(chan *[]metrics.Sample, 256), byName: map[string]*scenarioRun{},
		iterErrs: map[string]int64{},
	}
	if r.httpOpts, err = plan.Options.httpOptions(); err != nil {
		return nil, Invalid(err)
	}
	r.batches.New = func() any { b := make([]metrics.Sample, 0, flushAt); return &b }
	r.env = plan.Env
	if len(plan.SystemEnv) > 0 {
		r.env = maps.Clone(plan.SystemEnv)
		maps.Copy(r.env, plan.Env)
	}
	r.program = plan.Program
	if r.program == nil {
		r.program = plan.Target
	}
	keys := metrics.DefaultSubmetrics()
	if !plan.Options.NoThresholds && len(plan.Thresholds) > 0 {
		if r.eval, err = metrics.NewEvaluator(plan.Thresholds, reg); err != nil {
			return nil, Invalid(err)
		}
		keys = append(keys, r.eval.MetricKeys()...)
	}
	if r.totals, err = metrics.NewTotals(keys...); err != nil {
		return nil, Invalid(err)
	}
	tuple, err := plan.Options.ExecutionTuple()
	if err != nil {
		return nil, Invalid(err)
	}
	for _, name := range plan.Scenarios.Sorted() {
		sc := newScenarioRun(name, plan.Scenarios[name], tuple, r.env)
		r.scenarios = append(r.scenarios, sc)
		r.byName[name] = sc
	}
	r.pool = &vuPool{r: r}
	for _, o := range outputs {
		if pr, ok := o.(PartialReceiver); ok {
			r.partials = append(r.partials, pr)
		}
	}
	if plan.Remote != nil {
		r.remote = &RemoteRun{r: r, progress: map[string][]scenarios.Progress{}, generator: map[string]GeneratorHealth{},
			vusMax: map[string]float64{}}
		r.forwarded = make(chan []metrics.Sample, 16)
	}
	return r, nil
}

func (r *run) scenarioByName(name string) *scenarioRun { return r.byName[name] }

func (r *run) execute(ctx context.Context) (Result, error) {
	r.start = time.Now()
	r.coll = newCollector(r.start, r.registry, r.totals)
	r.ingest = r.coll
	if r.remote != nil {
		r.coll.open, r.coll.sumVUs, r.coll.written = remoteOpenSeconds, true, r.totalVUs
	}
	if len(r.partials) > 0 {
		totals, err := metrics.NewTotals(r.totalsKeys()...)
		if err != nil {
			return r.failedBeforeStart(err)
		}
		r.ingest = newCollector(r.start, r.registry, totals)
		r.ingest.open = keepOpen
		r.sentErrs = map[string]int64{}
	}
	r.health = newHealthSampler(r.ingest)
	info := RunInfo{Start: r.start, Plan: r.plan.Echo(), Registry: r.registry, Thresholds: r.plan.Thresholds,
		Executors: map[string]scenarios.Executor{}}
	for _, sc := range r.scenarios {
		info.Executors[sc.name] = sc.executor
	}
	for _, key := range r.totalsKeys() {
		if sm, err := metrics.ParseMetricKey(key); err == nil && sm.Tags.Len() > 0 {
			info.Submetrics = append(info.Submetrics, sm)
		}
	}
	for i, o := range r.outputs {
		if err := o.Start(info); err != nil {
			for _, started := range r.outputs[:i] {
				_ = started.Stop(Result{})
			}
			return r.failedBeforeStart(fmt.Errorf("output %d (%T): start: %w", i, o, err))
		}
	}

	var dispatcher sync.WaitGroup
	dispatcher.Go(r.dispatch)

	runCtx, stop := context.WithCancelCause(ctx)
	r.stop = stop
	defer stop(nil)

	result, err := r.execScenarios(runCtx)
	if ctx.Err() != nil {
		r.abort(AbortByCaller, context.Cause(ctx).Error())
	}

	close(r.samples)
	dispatcher.Wait()
	r.sendPartial()
	r.finish(&result)
	r.sendTimeline()
	for i, o := range r.outputs {
		if p, ok := o.(ProgressReceiver); ok {
			p.Progress(r.snapshot(true))
		}
		if err := o.Stop(result.Clone()); err != nil {
			result.Warnings = append(result.Warnings, fmt.Sprintf("output %d (%T): stop: %v", i, o, err))
		}
	}
	return result, err
}

func (r *run) failedBeforeStart(err error) (Result, error) {
	return Result{Status: StatusErrored, Config: r.plan.Echo(), Start: r.start, End: time.Now()}, err
}

// execScenarios initialises VUs, runs setup, the scenarios and teardown,
// with the periodic work around them.
func (r *run) execScenarios(ctx context.Context) (Result, error) {
	res := Result{Name: r.plan.Name, TestType: r.plan.TestType, Start: r.start, Config: r.plan.Echo()}
	gate := r.plan.Gate

	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	if gate == nil && r.remote == nil {
		bg.Go(func() { r.health.run(bgCtx) })
	}
	if gate == nil {
		r.watchTarget(bgCtx, &bg)
	}
	defer func() {
		stopBG()
		bg.Wait()
		r.flushExecutorSamples()
	}()

	et, _ := r.plan.Options.ExecutionTuple() // validated
	vus, limit := r.plan.Scenarios.PeakVUs(et)
	if r.remote != nil {
		vus, limit = 0, 0
	}
	if err := r.pool.initialise(ctx, vus, limit); err != nil {
		r.pool.close()
		res.Status = StatusErrored
		return res, fmt.Errorf("initialising VUs: %w", err)
	}
	if gate != nil {
		zero, data, err := gate.Open(ctx)
		if err != nil {
			r.pool.close()
			res.Status = StatusErrored
			return res, fmt.Errorf("waiting for the start: %w", err)
		}
		r.rebase(zero)
		res.Start = zero
		r.setupData = data
		bg.Go(func() { r.health.run(bgCtx) })
	}
	// vus and vus_max are sampled every second once the planned VUs exist,
	// and only then, as in k6: a run shorter than a second has none, and
	// the last value is the VUs of the last whole second, not the zero
	// left when the scenarios are over.
	bg.Go(func() { r.tick(bgCtx) })
	if gate == nil {
		if err := r.setup(ctx); err != nil {
			r.pool.close()
			res.Status = StatusErrored
			r.abort(AbortBySetup, err.Error())
			return res, err
		}
	}
	var execErr error
	if r.remote != nil {
		if execErr = r.plan.Remote.Execute(ctx, r.remote, r.setupData); execErr != nil {
			res.Status = StatusErrored
		}
	} else {
		var wg sync.WaitGroup
		for _, sc := range r.scenarios {
			wg.Go(func() { sc.run(ctx, r) })
		}
		wg.Wait()
	}
	if gate == nil {
		r.teardown(context.WithoutCancel(ctx))
	}
	r.pool.close()
	return res, execErr
}

// rebase moves the run's time zero to a generator's common start, before
// any sample is binned by it.
func (r *run) rebase(zero time.Time) {
	r.start = zero
	for _, c := range []*collector{r.coll, r.ingest} {
		c.mu.Lock()
		c.start = zero
		c.mu.Unlock()
	}
}

// totalVUs adds a coordinator's vus and vus_max, summed over its
// generators, to the totals as each second closes (called under the
// collector's lock).
func (r *run) totalVUs(i int64, b *bin) {
	at := r.start.Add(time.Duration(i) * time.Second)
	for _, v := range []struct {
		m *metrics.Metric
		v float64
	}{{r.builtin.vus, b.vus}, {r.builtin.vusMax, b.vusMax}} {
		if !math.IsNaN(v.v) {
			r.totals.Add(metrics.Sample{Metric: v.m, Time: at, Value: v.v, Tags: r.runTags})
		}
	}
}

// sendPartial hands what was measured since the last partial to the
// outputs that take partials, and folds it into the Result's aggregation.
func (r *run) sendPartial() {
	if len(r.partials) == 0 {
		return
	}
	c, err := r.ingest.take(r.totalsKeys())
	if err != nil { // the keys were parsed when the run was built
		r.warn("partial: %v", err)
		return
	}
	if err := r.totals.Merge(c.totals); err != nil {
		r.warn("partial: %v", err)
	}
	r.coll.merge(c)
	c.sketchPastExact(r.coll)
	p := &Partial{coll: c, errs: map[string]int64{}, scenarios: r.scenarioProgress(), generator: r.health.summary()}
	r.errMu.Lock()
	for msg, n := range r.iterErrs {
		if n > r.sentErrs[msg] {
			p.errs[msg] = n - r.sentErrs[msg]
			r.sentErrs[msg] = n
		}
	}
	r.errMu.Unlock()
	for _, pr := range r.partials {
		pr.Partial(p)
	}
}

// scenarioProgress is every scenario's progress: the executors' own, or
// the generators' summed when they run elsewhere.
func (r *run) scenarioProgress() []scenarios.Progress {
	if r.remote != nil {
		return r.remote.scenarioProgress(r.scenarios)
	}
	out := make([]scenarios.Progress, 0, len(r.scenarios))
	for _, sc := range r.scenarios {
		out = append(out, sc.progress())
	}
	return out
}

// tick does the periodic work: vus samples, threshold evaluation, progress.
func (r *run) tick(ctx context.Context) {
	vus := time.NewTicker(vusInterval)
	defer vus.Stop()
	every := thresholdInterval
	if r.remote != nil {
		every = remoteThresholdInterval
	}
	thr := time.NewTicker(every)
	defer thr.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-vus.C:
			if r.remote == nil {
				r.emitVUs(now)
			} else {
				r.remote.forwardVUs(now)
			}
			r.flushExecutorSamples()
			r.progress()
			r.sendPartial()
		case <-thr.C:
			r.checkThresholds()
		}
	}
}

func (r *run) emitVUs(now time.Time) {
	var active int64
	for _, sc := range r.scenarios {
		active += sc.progress().ActiveVUs
	}
	r.emitExecutor(
		metrics.Sample{Metric: r.builtin.vus, Time: now, Value: float64(active), Tags: r.runTags},
		metrics.Sample{Metric: r.builtin.vusMax, Time: now, Value: float64(r.pool.initialised.Load()), Tags: r.runTags},
	)
}

// checkThresholds evaluates thresholds during the run and aborts on a
// failed abortOnFail one.
func (r *run) checkThresholds() {
	if r.eval == nil || r.plan.Gate != nil {
		return
	}
	elapsed := time.Since(r.start)
	var verdicts []metrics.Verdict
	r.totals.View(func(src metrics.SinkSource) { verdicts = r.eval.Evaluate(src, elapsed, false) })
	var failing []string
	var aborting []metrics.Verdict
	for _, v := range verdicts {
		if v.Status == metrics.Failed {
			failing = append(failing, v.Metric+" "+v.Threshold.Source)
			if v.Aborts(elapsed) {
				aborting = append(aborting, v)
			}
		}
	}
	r.failingMu.Lock()
	r.failing = failing
	r.failingMu.Unlock()
	if len(aborting) > 0 {
		r.abort(AbortByThreshold, CrossedMessage(aborting))
	}
}

// CrossedMessage is k6's message for failed thresholds: "thresholds on
// metrics 'http_req_duration, http_req_failed' have been crossed", naming
// the metrics of the failed verdicts once each, sorted.
func CrossedMessage(verdicts []metrics.Verdict) string {
	var keys []string
	for _, v := range verdicts {
		if v.Status == metrics.Failed {
			keys = append(keys, v.Metric)
		}
	}
	slices.Sort(keys)
	return fmt.Sprintf("thresholds on metrics '%s' have been crossed", strings.Join(slices.Compact(keys), ", "))
}

// abort stops the run at once; the first abort wins.
func (r *run) abort(by AbortSource, reason string) {
	r.abortOnce.Do(func() {
		r.aborted.Store(&Abort{By: by, Reason: reason, After: time.Since(r.start)})
		r.logger.Warn("test aborted", "by", by, "reason", reason)
		if r.stop != nil {
			r.stop(scenarios.ErrHardStop)
		}
	})
}

func (r *run) markFailed(reason string) {
	r.failedBy.CompareAndSwap(nil, &reason)
}

func (r *run) countIterationError(err error) {
	r.coll.iterationError(time.Now())
	msg := shortName(err.Error())
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if _, ok := r.iterErrs[msg]; !ok && len(r.iterErrs) >= MaxIterationErrors {
		msg = "(other)"
	}
	r.iterErrs[msg]++
}

func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.warnMu.Lock()
	defer r.warnMu.Unlock()
	for _, w := range r.warnings {
		if w == msg {
			return
		}
	}
	r.warnings = append(r.warnings, msg)
}

// send hands the executors' batch to the dispatcher and returns an empty
// one. Batches travel in pooled holders, so a full round trip allocates
// nothing; VUs take holders from the pool themselves (VU.add).
func (r *run) send(batch []metrics.Sample) []metrics.Sample {
	holder := r.batches.Get().(*[]metrics.Sample)
	fresh := (*holder)[:0]
	*holder = batch
	r.samples <- holder
	return fresh
}

// emitExecutor buffers samples from executors and tickers, which come from
// many goroutines.
func (r *run) emitExecutor(samples ...metrics.Sample) {
	r.execMu.Lock()
	r.execBuf = append(r.execBuf, samples...)
	full := len(r.execBuf) >= flushAt
	r.execMu.Unlock()
	if full {
		r.flushExecutorSamples()
	}
}

func (r *run) flushExecutorSamples() {
	r.execMu.Lock()
	batch := r.execBuf
	r.execBuf = nil
	r.execMu.Unlock()
	if len(batch) > 0 {
		r.send(batch)
	}
}

// dispatch feeds every batch to the collector and the outputs, in order,
// and a coordinator's forwarded batches to the outputs alone: the
// generators' partials already carry what they measured.
func (r *run) dispatch() {
	for {
		var holder *[]metrics.Sample
		select {
		case fw := <-r.forwarded:
			r.outputForwarded(fw)
			continue
		case h, ok := <-r.samples:
			if !ok {
				r.dispatchForwarded() // the batches a coordinator forwarded before the run's end
				return
			}
			holder = h
		}
		batch := *holder
		r.ingest.add(batch)
		for _, o := range r.outputs {
			o.AddSamples(batch)
		}
		clear(batch)
		if cap(batch) != flushAt {
			batch = make([]metrics.Sample, 0, flushAt) // an executor's batch: keep pooled buffers uniform
		}
		*holder = batch[:0]
		r.batches.Put(holder)
	}
}

// dispatchForwarded gives the outputs the forwarded batches still queued.
func (r *run) dispatchForwarded() {
	for {
		select {
		case fw := <-r.forwarded:
			r.outputForwarded(fw)
		default:
			return
		}
	}
}

func (r *run) outputForwarded(batch []metrics.Sample) {
	for _, o := range r.outputs {
		o.AddSamples(batch)
	}
}

func (r *run) instance() InstanceState {
	st := InstanceState{VUsInitialized: r.pool.initialised.Load(), CurrentTestRunTime: time.Since(r.start)}
	for _, p := range r.scenarioProgress() {
		st.IterationsCompleted += p.Completed
		st.IterationsInterrupted += p.Interrupted
		st.VUsActive += p.ActiveVUs
	}
	return st
}

func (r *run) progress() {
	var snap *Snapshot
	for _, o := range r.outputs {
		if p, ok := o.(ProgressReceiver); ok {
			if snap == nil {
				s := r.snapshot(false)
				snap = &s
			}
			p.Progress(*snap)
		}
	}
	r.sendTimeline()
}

// sendTimeline hands each TimelineReceiver the seconds closed since its
// previous call.
func (r *run) sendTimeline() {
	r.timelineMu.Lock()
	defer r.timelineMu.Unlock()
	for i, o := range r.outputs {
		tr, ok := o.(TimelineReceiver)
		if !ok {
			continue
		}
		if r.timelineFrom == nil {
			r.timelineFrom = make([]int64, len(r.outputs))
		}
		tl, next := r.coll.timelineSince(r.timelineFrom[i])
		if next > r.timelineFrom[i] {
			r.timelineFrom[i] = next
			tr.TimelineSeconds(tl)
		}
	}
}

func (r *run) snapshot(done bool) Snapshot {
	s := Snapshot{Elapsed: time.Since(r.start), VUsMax: r.pool.initialised.Load(), Done: done}
	var weighted, weights float64
	for _, p := range r.scenarioProgress() {
		s.Scenarios = append(s.Scenarios, p)
		s.VUs += p.ActiveVUs
		s.Iterations += p.Completed
		s.Interrupted += p.Interrupted
		w := max(p.Duration, time.Millisecond).Seconds()
		weighted += p.Fraction * w
		weights += w
	}
	if weights > 0 {
		s.Fraction = min(1, weighted/weights)
	}
	var failed int64
	s.Requests, failed, s.RequestRate = r.coll.snapshotCounts()
	if s.Requests > 0 {
		s.ErrorRate = float64(failed) / float64(s.Requests)
	}
	r.totals.View(func(src metrics.SinkSource) {
		if sink := src.Sink(metrics.HTTPReqDuration); sink != nil {
			s.P95, _ = sink.Value(metrics.Percentile(95), 0)
		}
	})
	r.failingMu.Lock()
	s.Failing = append([]string(nil), r.failing...)
	r.failingMu.Unlock()
	return s
}

func (r *run) totalsKeys() []string {
	keys := metrics.DefaultSubmetrics()
	if r.eval != nil {
		keys = append(keys, r.eval.MetricKeys()...)
	}
	return keys
}

// newVU initialises one VU with the program's code.
func (r *run) newVU(ctx context.Context, id uint64) (*VU, error) {
	vu := &VU{id: id, run: r}
	client, err := r.newHTTPClient(vu)
	if err != nil {
		return nil, fmt.Errorf("VU %d: %w", id, err)
	}
	vu.http = client
	vu.rebase()
	code, err := r.program.NewVU(ctx, vu)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("VU %d: %w", id, err)
	}
	vu.code = code
	return vu, nil
}

// vuPool implements scenarios.VUPool over the run's VUs. Like k6's, it
// holds at most the plan's peak of VUs (with those executors may add at
// run time): a scenario that starts while the
// one before it still returns its VUs waits for them rather than making
// more, so vus_max and the VUs at work never pass the plan (the agent's
// max_vus is checked against it).
type vuPool struct {
	r           *run
	mu          sync.Mutex
	idle        []*VU
	made        int64         // VUs made or being made; guarded by mu
	limit       int64         // the most VUs to make; 0: no bound
	returned    chan struct{} // closed by Put, for a Get waiting at the limit
	nextID      atomic.Uint64
	initialised atomic.Int64
}

var _ scenarios.VUPool = (*vuPool)(nil)

// initialise creates n VUs before the test starts, as k6 does for the peak
// of planned VUs, a few at a time, and bounds the pool to limit: the peak
// with the VUs that executors may add at run time (arrival rates' maxVUs,
// externally-controlled's).
func (p *vuPool) initialise(ctx context.Context, n, limit int64) error {
	p.mu.Lock()
	p.limit = limit
	p.made += n
	p.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			vu, err := p.create(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			p.Put(vu)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// create makes a VU: the caller has counted it in made.
func (p *vuPool) create(ctx context.Context) (*VU, error) {
	vu, err := p.r.newVU(ctx, p.nextID.Add(1))
	if err != nil {
		p.mu.Lock()
		p.made--
		p.mu.Unlock()
		return nil, err
	}
	p.initialised.Add(1)
	return vu, nil
}

// Get implements scenarios.VUPool: an idle VU, a new one below the limit,
// or the next one returned.
func (p *vuPool) Get(ctx context.Context) (scenarios.VU, error) {
	p.mu.Lock()
	for {
		if n := len(p.idle); n > 0 {
			vu := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return vu, nil
		}
		if p.limit == 0 || p.made < p.limit {
			p.made++
			break
		}
		if p.returned == nil {
			p.returned = make(chan struct{})
		}
		returned := p.returned
		p.mu.Unlock()
		select {
		case <-returned:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		p.mu.Lock()
		p.made--
		p.mu.Unlock()
		return nil, err
	}
	return p.create(ctx)
}

// Put implements scenarios.VUPool.
func (p *vuPool) Put(v scenarios.VU) {
	vu := v.(*VU)
	vu.flush()
	p.mu.Lock()
	p.idle = append(p.idle, vu)
	if p.returned != nil {
		close(p.returned)
		p.returned = nil
	}
	p.mu.Unlock()
}

// close releases every idle VU's connections at the end of the run.
func (p *vuPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, vu := range p.idle {
		vu.flush()
		vu.release()
	}
	p.idle = nil
}
