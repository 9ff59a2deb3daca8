package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// schedule yields an arrival-rate scenario's iterations for one instance, in
// order: the global index of each and when it is due, from the start.
type schedule interface {
	next() (global int64, at time.Duration, ok bool)
}

// arrivalRun is one run of an arrival-rate executor: an open model. A pacer
// hands each due iteration to an idle VU without blocking; when no VU is
// idle the iteration is dropped, never queued, and one more VU (up to
// maxVUs) is initialised in the background.
//
// Idle VUs wait in a channel: a worker puts itself there the moment its
// iteration returns, so a VU is never busy and idle at once, and a dispatch
// is one receive from idle and one send to that worker's own buffered
// channel, neither of which can block.
type arrivalRun struct {
	t     *tracker
	rt    Runtime
	em    emitter
	log   *slog.Logger
	st    *stopper
	idle  chan *worker // capacity maxVUs: putting a worker back never blocks
	maxVU int64

	wg           sync.WaitGroup
	mu           sync.Mutex // guards the fields below
	workers      []*worker
	closed       bool // the schedule is over: no new workers
	initialised  int64
	initializing bool
	noMoreVUs    bool
	warned       bool
}

// worker is one VU of an arrival-rate run and the channel it takes its next
// iteration from.
type worker struct {
	vu   VU
	next chan Iteration // capacity 1
}

// runArrival runs sched with preAllocated VUs taken at once and up to maxVUs
// in all, until the schedule ends or ctx is cancelled, then waits for the
// running iterations (gracefulStop).
func runArrival(ctx context.Context, rt Runtime, t *tracker, sched schedule, preAllocated, maxVUs int64, regular, grace time.Duration) error {
	if maxVUs <= 0 {
		return nil // this instance has no share of the scenario
	}
	vus, err := getVUs(ctx, rt, t.scenario, preAllocated)
	if err != nil {
		return err
	}
	r := &arrivalRun{
		t:     t,
		rt:    rt,
		em:    newEmitter(rt, t.scenario),
		log:   runLogger(rt, t.scenario, t.executor),
		idle:  make(chan *worker, maxVUs),
		maxVU: maxVUs,
	}
	start := t.started()
	r.st = newStopper(ctx, start, regular, grace)
	for _, vu := range vus {
		r.addWorker(vu)
	}
	r.pace(ctx, start, sched)
	r.mu.Lock()
	r.closed = true
	for _, w := range r.workers {
		close(w.next)
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.st.release()
	return nil
}

// addWorker makes vu idle and starts its goroutine; after the schedule has
// ended it returns vu to the pool instead.
func (r *arrivalRun) addWorker(vu VU) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.rt.Pool.Put(vu)
		return
	}
	w := &worker{vu: vu, next: make(chan Iteration, 1)}
	r.workers = append(r.workers, w)
	r.initialised++
	r.t.vus.Store(r.initialised)
	r.idle <- w
	r.wg.Go(func() { r.work(w) })
}

// pace dispatches iterations as they fall due. It does not arm a timer per
// iteration: it wakes up, dispatches every iteration due by now as a batch,
// and sleeps until the next one is due (see [waiter]). It never spins.
func (r *arrivalRun) pace(ctx context.Context, start time.Time, sched schedule) {
	w := newWaiter()
	defer w.stop()
	var started uint64
	gi, at, ok := sched.next()
	for ok {
		now := time.Now()
		if due := start.Add(at); due.After(now) {
			if !w.sleepUntil(ctx, due) {
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		for ok && !start.Add(at).After(now) {
			select {
			case idle := <-r.idle:
				idle.next <- Iteration{Scenario: r.t.scenario, InScenario: started, InTest: uint64(gi), Scheduled: start.Add(at)}
				started++
			default:
				r.drop()
			}
			gi, at, ok = sched.next()
		}
	}
}

// work runs the iterations handed to one VU until the schedule ends.
func (r *arrivalRun) work(w *worker) {
	defer r.rt.Pool.Put(w.vu)
	for it := range w.next {
		r.t.active.Add(1)
		now := time.Now()
		r.em.late(now, now.Sub(it.Scheduled))
		r.t.iterate(r.st.hard, w.vu, it)
		r.t.active.Add(-1)
		r.idle <- w
	}
}

// drop counts an iteration no VU was free for and, below maxVUs, starts
// initialising one more VU unless one is on its way already.
func (r *arrivalRun) drop() {
	r.t.dropped.Add(1)
	r.em.drop(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.initializing || r.noMoreVUs:
	case r.initialised >= r.maxVU:
		if !r.warned {
			r.warned = true
			r.log.Warn(fmt.Sprintf("Insufficient VUs, reached %d active VUs and cannot initialize more", r.initialised))
		}
	default:
		r.initializing = true
		r.wg.Go(r.initVU)
	}
}

// initVU takes one more VU from the pool and makes it a worker.
func (r *arrivalRun) initVU() {
	vu, err := r.rt.Pool.Get(r.st.soft)
	if err != nil {
		r.mu.Lock()
		r.initializing, r.noMoreVUs = false, true
		r.mu.Unlock()
		if r.st.soft.Err() == nil {
			r.log.Warn("could not initialise an unplanned VU", "error", err)
		}
		return
	}
	r.addWorker(vu)
	r.mu.Lock()
	r.initializing = false
	r.mu.Unlock()
}

// arrivalSplit is one instance's share of an arrival-rate scenario: its VUs
// and the tuple (re-split by maxVUs, as k6 does) whose stripe holds its
// iterations.
type arrivalSplit struct {
	preAllocated, maxVUs int64
	et                   *ExecutionTuple
	share                float64 // this instance's fraction of the rate
}

// splitArrival fails only when the re-split sequence would be longer than
// [MaxSegmentLCD]; then the split has no VUs.
func splitArrival(et *ExecutionTuple, preAllocated, maxVUs int64) (arrivalSplit, error) {
	s := arrivalSplit{preAllocated: et.ScaleInt64(preAllocated), maxVUs: et.ScaleInt64(maxVUs)}
	if s.maxVUs == 0 {
		return arrivalSplit{}, nil
	}
	nt, err := et.NewFromValue(maxVUs)
	if err != nil {
		return arrivalSplit{}, err
	}
	s.et = nt
	s.share = 1
	if nt != nil {
		s.share, _ = nt.Segment.Length().Float64()
	}
	return s, nil
}

func (s arrivalSplit) maxVUsInfo() string {
	if s.maxVUs > s.preAllocated {
		return fmt.Sprintf("maxVUs: %d-%d", s.preAllocated, s.maxVUs)
	}
	return fmt.Sprintf("maxVUs: %d", s.preAllocated)
}

func validateArrivalVUs(p *problems, preAllocated, maxVUs int64) {
	if preAllocated < 0 {
		p.addf("preAllocatedVUs", "must be >= 0, got %d", preAllocated)
	}
	switch {
	case maxVUs < 0:
		p.addf("maxVUs", "must be >= preAllocatedVUs, got %d", maxVUs)
	case maxVUs != 0 && maxVUs < preAllocated:
		p.addf("maxVUs", "must be >= preAllocatedVUs (%d), got %d", preAllocated, maxVUs)
	case max(maxVUs, preAllocated) == 0:
		p.addf("maxVUs", "must be > 0 when preAllocatedVUs is 0")
	}
}

func validateTimeUnit(p *problems, d time.Duration) {
	if d < 0 {
		p.addf("timeUnit", "must be > 0, got %s", d)
	}
}

// perSecond converts a rate per unit to iterations per second.
func perSecond(rate float64, unit time.Duration) float64 {
	return rate * float64(time.Second) / float64(unit)
}
