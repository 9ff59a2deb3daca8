package scenarios

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// ErrInvalidConfig is wrapped by the error of [Executor.Run] when the
// scenario's config does not validate.
var ErrInvalidConfig = errors.New("invalid scenario config")

// Causes of the contexts iterations run under, for VUs that report why they
// were interrupted.
var (
	errGracefulStopOver = errors.New("gracefulStop expired")
	errRampedDown       = errors.New("gracefulRampDown expired")
	errScheduleEnd      = errors.New("scenario schedule ended")
)

// stopper owns the two contexts of a run (k6's regular and max duration):
// soft ends the schedule (no new iteration starts) at start+regular or when
// the parent ends; hard, which iterations run under, ends gracefulStop later,
// or at once when the parent is cancelled with [ErrHardStop].
type stopper struct {
	soft, hard   context.Context
	softDeadline time.Time // zero: no regular end
	cancelSoft   context.CancelCauseFunc
	cancelHard   context.CancelCauseFunc
	cancels      []context.CancelFunc
	released     chan struct{}
	wg           sync.WaitGroup
}

// newStopper starts the clock of a run at start; regular <= 0 means the
// schedule has no end of its own.
func newStopper(ctx context.Context, start time.Time, regular, grace time.Duration) *stopper {
	s := &stopper{released: make(chan struct{})}
	s.soft, s.cancelSoft = context.WithCancelCause(ctx)
	s.hard, s.cancelHard = context.WithCancelCause(context.WithoutCancel(ctx))
	if regular > 0 {
		s.softDeadline = start.Add(regular)
		var c1, c2 context.CancelFunc
		s.soft, c1 = context.WithDeadlineCause(s.soft, s.softDeadline, errScheduleEnd)
		s.hard, c2 = context.WithDeadlineCause(s.hard, s.softDeadline.Add(grace), errGracefulStopOver)
		s.cancels = append(s.cancels, c1, c2)
	}
	s.wg.Go(func() {
		select {
		case <-s.released:
			return
		case <-ctx.Done():
		}
		if errors.Is(context.Cause(ctx), ErrHardStop) {
			s.cancelHard(ErrHardStop)
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			s.cancelHard(errGracefulStopOver)
		case <-s.released:
		}
	})
	return s
}

// running reports whether a new iteration may start. It checks the clock as
// well as the context, so that an iteration ending exactly at the regular
// end does not race the deadline's timer.
func (s *stopper) running() bool {
	if s.soft.Err() != nil {
		return false
	}
	return s.softDeadline.IsZero() || time.Now().Before(s.softDeadline)
}

// release stops the watcher and frees the contexts; call it once every
// iteration has returned.
func (s *stopper) release() {
	close(s.released)
	s.wg.Wait()
	for _, c := range s.cancels {
		c()
	}
	s.cancelSoft(context.Canceled)
	s.cancelHard(context.Canceled)
}

// tracker holds the live counters behind [Executor.Progress]. It is safe for
// concurrent use.
type tracker struct {
	scenario, executor string
	duration           time.Duration // regular duration; 0 = no end
	total              atomic.Uint64 // planned iterations of iteration-based executors

	mu         sync.Mutex
	start, end time.Time

	ran                             atomic.Bool
	active, vus                     atomic.Int64
	completed, interrupted, dropped atomic.Uint64
}

func newTracker(scenario, executor string, regular time.Duration) tracker {
	return tracker{scenario: scenario, executor: executor, duration: regular}
}

// Progress implements [Executor].
func (t *tracker) Progress() Progress {
	p := Progress{
		Scenario:    t.scenario,
		Executor:    t.executor,
		Duration:    t.duration,
		ActiveVUs:   t.active.Load(),
		MaxVUs:      t.vus.Load(),
		Completed:   t.completed.Load(),
		Interrupted: t.interrupted.Load(),
		Dropped:     t.dropped.Load(),
	}
	t.mu.Lock()
	start, end := t.start, t.end
	t.mu.Unlock()
	switch {
	case !end.IsZero():
		p.Done = true
		if !start.IsZero() {
			p.Elapsed = end.Sub(start)
		}
	case !start.IsZero():
		p.Elapsed = time.Since(start)
	}
	switch total := t.total.Load(); {
	case total > 0:
		p.Fraction = float64(p.Completed+p.Interrupted) / float64(total)
	case t.duration > 0:
		p.Fraction = float64(p.Elapsed) / float64(t.duration)
	case p.Done:
		p.Fraction = 1
	}
	p.Fraction = min(max(p.Fraction, 0), 1)
	return p
}

// begin marks the start of Run: it fails when Run was called before, the
// config is invalid or the runtime has no pool.
func (t *tracker) begin(rt Runtime, validate func() error) error {
	if !t.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("scenario %q: Run called twice", t.scenario)
	}
	if err := validate(); err != nil {
		t.finish()
		return fmt.Errorf("scenario %q: %w: %w", t.scenario, ErrInvalidConfig, err)
	}
	if rt.Pool == nil {
		t.finish()
		return fmt.Errorf("scenario %q: Runtime has no VU pool", t.scenario)
	}
	return nil
}

// started records the start of the schedule and returns it.
func (t *tracker) started() time.Time {
	now := time.Now()
	t.mu.Lock()
	t.start = now
	t.mu.Unlock()
	return now
}

func (t *tracker) finish() {
	t.mu.Lock()
	t.end = time.Now()
	t.mu.Unlock()
}

// iterate runs one iteration and counts it as completed or interrupted.
func (t *tracker) iterate(ctx context.Context, vu VU, it Iteration) bool {
	ok := vu.Iterate(ctx, it)
	if ok {
		t.completed.Add(1)
	} else {
		t.interrupted.Add(1)
	}
	return ok
}

// emitter sends the executor's own samples; all methods are no-ops when the
// runtime has no Emit or no Metrics. It is safe for concurrent use.
type emitter struct {
	emit              func(metrics.Sample)
	dropped, lateness *metrics.Metric
	tags              metrics.Tags
}

func newEmitter(rt Runtime, scenario string) emitter {
	e := emitter{emit: rt.Emit, tags: rt.Tags.With("scenario", scenario)}
	if rt.Metrics != nil {
		e.dropped = rt.Metrics.Get(metrics.DroppedIterations)
		e.lateness = rt.Metrics.Get(metrics.IterationLateness)
	}
	return e
}

// drop emits one dropped_iterations sample of value n.
func (e emitter) drop(n int64) {
	if e.emit == nil || e.dropped == nil || n <= 0 {
		return
	}
	e.emit(metrics.Sample{Metric: e.dropped, Time: time.Now(), Value: float64(n), Tags: e.tags})
}

// late emits one iteration_lateness sample: how long after its schedule an
// iteration started, in milliseconds.
func (e emitter) late(now time.Time, d time.Duration) {
	if e.emit == nil || e.lateness == nil {
		return
	}
	e.emit(metrics.Sample{Metric: e.lateness, Time: now, Value: float64(d) / float64(time.Millisecond), Tags: e.tags})
}

func runLogger(rt Runtime, scenario, executor string) *slog.Logger {
	l := rt.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("scenario", scenario, "executor", executor)
}

// getVUs takes n VUs from the pool; on failure it returns those it got.
func getVUs(ctx context.Context, rt Runtime, scenario string, n int64) ([]VU, error) {
	vus := make([]VU, 0, n)
	for i := range n {
		vu, err := rt.Pool.Get(ctx)
		if err != nil {
			for _, v := range vus {
				rt.Pool.Put(v)
			}
			return nil, fmt.Errorf("scenario %q: getting VU %d of %d: %w", scenario, i+1, n, err)
		}
		vus = append(vus, vu)
	}
	return vus, nil
}

// mulDiv returns a·b/c rounded down, and false when it does not fit an int64.
// a, b >= 0 and c > 0.
func mulDiv(a, b, c int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		return 0, false
	}
	return int64(q), true
}

// ceilMulDiv returns ⌈a·b/c⌉ under the same conditions as mulDiv.
func ceilMulDiv(a, b, c int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r > 0 {
		q++
	}
	if q > 1<<63-1 {
		return 0, false
	}
	return int64(q), true
}
