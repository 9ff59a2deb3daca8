package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/store"
)

// Causes of a run's end, given to its context.
var (
	errCancelled = errors.New("cancelled by request")
	// errShutdown interrupts running iterations at once (scenarios.ErrHardStop).
	errShutdown  = fmt.Errorf("the agent shut down while the test was running: %w", scenarios.ErrHardStop)
	errTimeLimit = fmt.Errorf("the test ran past its maximum duration: %w", scenarios.ErrHardStop)
)

// subscriberBuffer is how many events a slow SSE subscriber may lag before
// it is dropped.
const subscriberBuffer = 16

// liveRun is a queued or running test: its cancel function, its latest
// snapshot and its SSE subscribers. It is safe for concurrent use.
type liveRun struct {
	id, tenant, name, testType, actor string
	created                           time.Time
	origin                            origin
	ctx                               context.Context
	cancel                            context.CancelCauseFunc

	mu       sync.Mutex
	state    store.State
	started  time.Time
	snap     loadtest.Snapshot
	external map[string]vuSetter
	subs     map[chan []byte]struct{}
	seq      int
	final    *RunStatus // set when the run has ended
}

// RunStatus is a run's state and progress: the body of
// GET /load-test/{id}/status and of every SSE event.
type RunStatus struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	TestType string      `json:"test_type"`
	State    store.State `json:"state"`
	// ProgressPercent is how far the plan is, by time, 0 … 100.
	ProgressPercent   float64 `json:"progress_percent"`
	CurrentVUs        int64   `json:"current_vus"`
	MaxVUs            int64   `json:"vus_max"`
	Requests          int64   `json:"requests"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	ErrorRate         float64 `json:"error_rate"`
	P95Ms             float64 `json:"p95_ms"`
	Iterations        uint64  `json:"iterations"`
	ElapsedSeconds    float64 `json:"elapsed_seconds"`
	// FailingThresholds lists thresholds failing at the moment (live runs).
	FailingThresholds []string  `json:"failing_thresholds,omitempty"`
	Created           time.Time `json:"created"`
	Started           time.Time `json:"started,omitzero"`
	Ended             time.Time `json:"ended,omitzero"`
	// Error says why a run failed or was interrupted.
	Error string `json:"error,omitempty"`
	// ResultStatus is the engine's verdict once there is a result:
	// passed, thresholds_failed, aborted, marked_failed, errored.
	ResultStatus loadtest.Status `json:"result_status,omitempty"`
	// ScheduleID and Slot name the schedule and slot that started the run.
	ScheduleID string    `json:"schedule_id,omitempty"`
	Slot       time.Time `json:"slot,omitzero"`
	// BudgetStatus is what the test's budgets said of the run, once it
	// ended: passed or breached; empty when the test has none.
	BudgetStatus string `json:"budget_status,omitempty"`
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// statusLocked returns the live status; r.mu is held.
func (r *liveRun) statusLocked() RunStatus {
	if r.final != nil {
		return *r.final
	}
	st := RunStatus{ID: r.id, Name: r.name, TestType: r.testType, State: r.state, Created: r.created, Started: r.started,
		ProgressPercent: finite(r.snap.Fraction * 100), CurrentVUs: r.snap.VUs, MaxVUs: r.snap.VUsMax,
		Requests: r.snap.Requests, RequestsPerSecond: finite(r.snap.RequestRate), ErrorRate: finite(r.snap.ErrorRate),
		P95Ms: finite(r.snap.P95), Iterations: r.snap.Iterations, ElapsedSeconds: r.snap.Elapsed.Seconds(),
		FailingThresholds: slices.Clone(r.snap.Failing), ScheduleID: r.origin.schedule, Slot: r.origin.slot}
	return st
}

func (r *liveRun) status() RunStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusLocked()
}

// frameLocked encodes an SSE event; r.mu is held.
func (r *liveRun) frameLocked(event string, st RunStatus) []byte {
	r.seq++
	b, _ := json.Marshal(st) // plain data: cannot fail
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", r.seq, event, b)
}

// publishLocked sends a frame to every subscriber without blocking: a
// subscriber whose buffer is full is dropped (its channel closed).
func (r *liveRun) publishLocked(frame []byte) {
	for ch := range r.subs {
		select {
		case ch <- frame:
		default:
			delete(r.subs, ch)
			close(ch)
		}
	}
}

// Progress implements loadtest.ProgressReceiver: the engine's per-second
// snapshot.
func (r *liveRun) Progress(snap loadtest.Snapshot) {
	snap.Scenarios = slices.Clone(snap.Scenarios)
	snap.Failing = slices.Clone(snap.Failing)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return
	}
	r.snap = snap
	if len(r.subs) > 0 {
		r.publishLocked(r.frameLocked("progress", r.statusLocked()))
	}
}

// Start, AddSamples and Stop make liveRun a loadtest.Output.
func (r *liveRun) Start(info loadtest.RunInfo) error {
	for name, e := range info.Executors {
		if x, ok := e.(*scenarios.ExternalExecutor); ok {
			r.setExternal(name, x)
		}
	}
	return nil
}
func (r *liveRun) AddSamples([]metrics.Sample) {}
func (r *liveRun) Stop(loadtest.Result) error  { return nil }
func (r *liveRun) snapshot() loadtest.Snapshot { r.mu.Lock(); defer r.mu.Unlock(); return r.snap }
func (r *liveRun) setRunning(started time.Time) {
	r.mu.Lock()
	r.state, r.started = store.Running, started
	r.mu.Unlock()
}
func (r *liveRun) isFinal() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.final != nil }

// vuSetter sets the VUs of an externally-controlled scenario: the
// executor itself, or a sandboxed run's stand-in for it.
type vuSetter interface{ SetVUs(vus int64) error }

var _ vuSetter = (*scenarios.ExternalExecutor)(nil)

func (r *liveRun) setExternal(name string, e vuSetter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.external == nil {
		r.external = map[string]vuSetter{}
	}
	r.external[name] = e
}

var (
	_ loadtest.Output           = (*liveRun)(nil)
	_ loadtest.ProgressReceiver = (*liveRun)(nil)
)

// subscribe adds an SSE subscriber and returns its channel and the frame of
// the current status; ok is false once the run has ended.
func (r *liveRun) subscribe() (ch chan []byte, first []byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return nil, nil, false
	}
	ch = make(chan []byte, subscriberBuffer)
	if r.subs == nil {
		r.subs = map[chan []byte]struct{}{}
	}
	r.subs[ch] = struct{}{}
	return ch, r.frameLocked("status", r.statusLocked()), true
}

func (r *liveRun) unsubscribe(ch chan []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.subs[ch]; ok {
		delete(r.subs, ch)
		close(ch)
	}
}

// finish records the final status, sends it to the subscribers as a "done"
// event and closes their channels.
func (r *liveRun) finish(st RunStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.final = &st
	r.state = st.State
	frame := r.frameLocked("done", st)
	r.publishLocked(frame)
	for ch := range r.subs {
		close(ch)
	}
	r.subs = nil
}

// finalFrame returns the "done" frame of an ended run, nil while it runs.
func (r *liveRun) finalFrame() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final == nil {
		return nil
	}
	return r.frameLocked("done", *r.final)
}

// admit reserves a run slot for tenant, or fails with a max_concurrent
// LimitError or errShuttingDown.
func (s *Server) admit(tenant string, maxConcurrent int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errShuttingDown
	}
	if s.perTenant[tenant] >= maxConcurrent {
		var le LimitError
		le.add("max_concurrent", fmt.Sprintf("the tenant has %d tests queued or running; its max_concurrent is %d", s.perTenant[tenant], maxConcurrent))
		return &le
	}
	s.perTenant[tenant]++
	return nil
}

func (s *Server) release(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perTenant[tenant]--; s.perTenant[tenant] <= 0 {
		delete(s.perTenant, tenant)
	}
}

// launch registers a created run and starts its goroutine.
func (s *Server) launch(r *liveRun, prep prepared) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errShuttingDown
	}
	s.live[r.id] = r
	s.metrics.active.Inc()
	s.runs.Go(func() { s.execute(r, prep) })
	return nil
}

// live returns tenant's live run id, or nil.
func (s *Server) liveRun(tenant, id string) *liveRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.live[id]; r != nil && r.tenant == tenant {
		return r
	}
	return nil
}

// execute runs a test to its end and records it: state, result, stats,
// then the analysis and the alerts.
func (s *Server) execute(r *liveRun, prep prepared) {
	defer r.cancel(nil)
	logger := s.logger.With("run", r.id, "tenant", r.tenant)
	bg := context.WithoutCancel(r.ctx) // records are written whatever ended the run
	started := time.Now().UTC()
	if err := s.st.SetRunning(bg, r.tenant, r.id, started); err != nil {
		logger.Error("marking the run running", "error", err)
	}
	r.setRunning(started)
	logger.Info("test started", "name", r.name, "test_type", r.testType)

	runCtx := r.ctx
	if end, ok := prep.plan.Scenarios.End(); ok {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(r.ctx, end+s.cfg.RunSlack, errTimeLimit)
		defer stop()
	}
	res, runErr := prep.run(runCtx, r, logger, prep.dial)

	state, msg := outcome(context.Cause(runCtx), res, runErr)
	ended := time.Now().UTC()
	stats := statsOf(res, r.snapshot(), state)
	var resPtr *loadtest.Result
	if !res.Start.IsZero() || res.Status != "" {
		resPtr = &res
	}
	wctx, cancel := context.WithTimeout(bg, 30*time.Second)
	if err := s.st.Finish(wctx, r.tenant, r.id, store.Finish{State: state, Ended: ended, Error: msg, Stats: stats, Result: resPtr}); err != nil {
		logger.Error("recording the end of the run", "error", err)
	}
	cancel()
	final := RunStatus{ID: r.id, Name: r.name, TestType: r.testType, State: state, Created: r.created, Started: started, Ended: ended, Error: msg,
		ScheduleID: r.origin.schedule, Slot: r.origin.slot}
	final.applyStats(stats, ended.Sub(started))
	logger.Info("test ended", "state", state, "result_status", res.Status, "error", msg, "requests", stats.Requests)

	// The run stays live (its status "running" at 100 %) until its
	// analysis is stored, so that a client that sees the final state finds
	// the findings too.
	var rep *anomaly.Report
	if resPtr != nil {
		final.ResultStatus = res.Status
		hist, err := s.st.History(s.bgCtx, r.tenant, r.name, r.testType, r.id, s.cfg.HistorySize)
		if err != nil {
			logger.Error("reading the test's history", "error", err)
		}
		var base *loadtest.Result
		switch b, err := s.st.Baseline(s.bgCtx, r.tenant, r.id); {
		case err == nil:
			base = b.Result
		case !errors.Is(err, store.ErrNotFound):
			logger.Error("reading the test's baseline", "error", err)
		}
		analysis, ai := s.cfg.Analyze(s.bgCtx, res, hist, base)
		rep = &analysis
		wctx, cancel := context.WithTimeout(bg, 30*time.Second)
		if err := s.st.SetAnalysis(wctx, r.tenant, r.id, rep, ai); err != nil {
			logger.Error("recording the analysis", "error", err)
		}
		cancel()
	}
	var breaches []string
	if resPtr != nil {
		var check *BudgetCheck
		check, breaches = s.checkBudgets(logger, r, res, rep)
		if check != nil {
			final.BudgetStatus = check.Status
		}
	}
	r.finish(final)
	s.unregister(r)
	s.metrics.finished.WithLabelValues(string(state)).Inc()
	s.alert(logger, r, state, msg, resPtr, rep, breaches)
}

func (s *Server) unregister(r *liveRun) {
	s.mu.Lock()
	delete(s.live, r.id)
	s.mu.Unlock()
	s.release(r.tenant)
	s.metrics.active.Dec()
}

// outcome decides a run's final state from what ended it.
func outcome(cause error, res loadtest.Result, runErr error) (store.State, string) {
	switch {
	case errors.Is(cause, errCancelled):
		return store.Cancelled, ""
	case errors.Is(cause, errShutdown):
		return store.Interrupted, errShutdown.Error()
	case errors.Is(cause, errTimeLimit):
		return store.Failed, errTimeLimit.Error()
	case runErr != nil:
		return store.Failed, runErr.Error()
	case res.Status == loadtest.StatusErrored:
		return store.Failed, "the test errored"
	}
	return store.Completed, ""
}

// statsOf returns a run's headline numbers from its result, or from its
// last snapshot where the result has none.
func statsOf(res loadtest.Result, snap loadtest.Snapshot, state store.State) store.Stats {
	st := store.Stats{Requests: snap.Requests, RequestRate: finite(snap.RequestRate), ErrorRate: finite(snap.ErrorRate),
		P95: finite(snap.P95), Iterations: snap.Iterations, VUsMax: snap.VUsMax, Fraction: finite(snap.Fraction)}
	val := func(metric, agg string) (float64, bool) { return res.Metric(metric).Value(agg) }
	if v, ok := val(metrics.HTTPReqs, "count"); ok {
		st.Requests = int64(v)
	}
	if v, ok := val(metrics.HTTPReqs, "rate"); ok {
		st.RequestRate = v
	}
	if v, ok := val(metrics.HTTPReqFailed, "rate"); ok {
		st.ErrorRate = v
	}
	if v, ok := res.Metric(metrics.HTTPReqDuration).Percentile(95); ok {
		st.P95 = v
	}
	if v, ok := val(metrics.Iterations, "count"); ok {
		st.Iterations = uint64(v)
	}
	if v, ok := val(metrics.VUsMax, "max"); ok {
		st.VUsMax = int64(v)
	} else if v, ok := val(metrics.VUsMax, "value"); ok {
		st.VUsMax = int64(v)
	}
	if state == store.Completed {
		st.Fraction = 1
	}
	return st
}

// applyStats fills the status's numbers from a finished run's stats.
func (st *RunStatus) applyStats(s store.Stats, elapsed time.Duration) {
	st.ProgressPercent = finite(s.Fraction * 100)
	st.MaxVUs, st.Requests, st.RequestsPerSecond = s.VUsMax, s.Requests, finite(s.RequestRate)
	st.ErrorRate, st.P95Ms, st.Iterations = finite(s.ErrorRate), finite(s.P95), s.Iterations
	if elapsed > 0 {
		st.ElapsedSeconds = elapsed.Seconds()
	}
}

// statusOf is the status of a run read from the store.
func statusOf(r store.Run) RunStatus {
	st := RunStatus{ID: r.ID, Name: r.Name, TestType: r.TestType, State: r.State, Created: r.Created, Started: r.Started,
		Ended: r.Ended, Error: r.Error, ResultStatus: r.Status, ScheduleID: r.Schedule, Slot: r.Slot, BudgetStatus: r.BudgetStatus}
	var elapsed time.Duration
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		elapsed = r.Ended.Sub(r.Started)
	}
	st.applyStats(r.Stats, elapsed)
	return st
}

// status returns the status of tenant's run id: live from memory, else
// from the store.
func (s *Server) status(ctx context.Context, tenant, id string) (RunStatus, error) {
	if r := s.liveRun(tenant, id); r != nil {
		return r.status(), nil
	}
	run, err := s.st.Summary(ctx, tenant, id)
	if err != nil {
		return RunStatus{}, err
	}
	return statusOf(run), nil
}

// scale sets the VUs of a live run's externally-controlled scenario.
func (s *Server) scale(r *liveRun, scenario string, vus int64) (string, error) {
	r.mu.Lock()
	if r.final != nil {
		r.mu.Unlock()
		return "", fmt.Errorf("run %s is %s: %w", r.id, r.final.State, errNotLive)
	}
	names := make([]string, 0, len(r.external))
	for n := range r.external {
		names = append(names, n)
	}
	slices.Sort(names)
	var e vuSetter
	switch {
	case len(names) == 0:
		r.mu.Unlock()
		return "", errNoExternal
	case scenario != "":
		e = r.external[scenario]
		if e == nil {
			r.mu.Unlock()
			return "", invalid(fmt.Sprintf("scenario: no externally-controlled scenario %q; have %v", scenario, names))
		}
	case len(names) > 1:
		r.mu.Unlock()
		return "", invalid(fmt.Sprintf("scenario: required: the run has several externally-controlled scenarios: %v", names))
	default:
		scenario, e = names[0], r.external[names[0]]
	}
	r.mu.Unlock()
	return scenario, e.SetVUs(vus)
}

// highFindings returns the report's findings of high or critical severity.
func highFindings(rep *anomaly.Report) []anomaly.Finding {
	if rep == nil {
		return nil
	}
	var out []anomaly.Finding
	for _, f := range rep.Findings {
		if f.Severity >= anomaly.SeverityHigh {
			out = append(out, f)
		}
	}
	return out
}
