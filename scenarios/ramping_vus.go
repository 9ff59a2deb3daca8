package scenarios

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

const typeRampingVUs = "ramping-vus"

// RampingVUs is k6's ramping-vus executor: looping VUs whose number moves
// linearly from StartVUs through the stage targets. Each VU is added or
// removed at its own instant: on the way up VU v starts when the line
// reaches v, on the way down the newest VU stops when the line reaches the
// next lower integer. A stopped VU finishes its iteration within
// GracefulRampDown, then is interrupted; gracefulStop applies at the end.
//
// Across execution segments each instance adds or removes one of its VUs
// exactly when the whole test's count crosses one of its striped indices, so
// the instances' counts add up to the single-instance count at every instant.
type RampingVUs struct {
	Common
	// StartVUs is the count at the start; nil means 1; >= 0.
	StartVUs *int64
	// Stages move the count to each Target over its Duration; at least one.
	Stages []Stage
	// GracefulRampDown is how long a VU removed by a ramp-down may finish
	// its iteration; nil means 30s; point at 0 to interrupt at once.
	GracefulRampDown *time.Duration
}

var _ Config = RampingVUs{}

// Type returns "ramping-vus".
func (RampingVUs) Type() string { return typeRampingVUs }

func (c RampingVUs) startVUs() int64 { return int64Or(c.StartVUs, 1) }
func (c RampingVUs) gracefulRampDown() time.Duration {
	return durationOr(c.GracefulRampDown, DefaultGracefulRampDown)
}

func (c RampingVUs) peak() int64 {
	peak := c.startVUs()
	for _, s := range c.Stages {
		peak = max(peak, s.Target)
	}
	return peak
}

// Validate implements [Config].
func (c RampingVUs) Validate() error {
	var p problems
	c.Common.validate(&p)
	switch v := c.startVUs(); {
	case v < 0:
		p.addf("startVUs", "must be >= 0, got %d", v)
	case v > MaxVUs:
		p.addf("startVUs", "must be <= %d, got %d", MaxVUs, v)
	}
	validateStages(&p, c.Stages, "VUs")
	if len(c.Stages) > 0 && c.peak() <= 0 {
		p.addf("stages", "startVUs or a stage target must be > 0")
	}
	if d := c.gracefulRampDown(); d < 0 {
		p.addf("gracefulRampDown", "must be >= 0, got %s", d)
	}
	return p.err()
}

// End implements [Config]. When the last stage ramps down to 0 VUs, every
// VU is ramped down by the end of the stages and the scenario lasts at most
// gracefulRampDown more, as in k6; otherwise gracefulStop more.
func (c RampingVUs) End() time.Duration {
	return c.StartTime + stagesDuration(c.Stages) + c.grace()
}

// grace is how long the scenario may run after its stages.
func (c RampingVUs) grace() time.Duration {
	gs := c.GracefulStopOrDefault()
	if n := len(c.Stages); n > 0 && c.Stages[n-1].Target == 0 {
		return min(gs, c.gracefulRampDown())
	}
	return gs
}

// Description implements [Config]: "Up to 20 looping VUs for 1m30s over 2
// stages (gracefulRampDown: 30s, gracefulStop: 30s)".
func (c RampingVUs) Description(et *ExecutionTuple) string {
	return fmt.Sprintf("Up to %d looping VUs for %s over %d stages%s", et.ScaleInt64(c.peak()), stagesDuration(c.Stages),
		len(c.Stages), c.info("gracefulRampDown: "+c.gracefulRampDown().String()))
}

// vuChange is a step of a VU count: from At on, VUs VUs.
type vuChange struct {
	At  time.Duration
	VUs int64
}

// vuSteps returns this instance's VU count over the stages: the count at 0,
// then every change before the end.
func (c RampingVUs) vuSteps(et *ExecutionTuple) []vuChange {
	end := stagesDuration(c.Stages)
	cur := c.startVUs()
	steps := []vuChange{{0, et.ScaleInt64(cur)}}
	add := func(at time.Duration, vus int64) {
		if at >= end {
			return
		}
		if last := &steps[len(steps)-1]; last.At == at {
			last.VUs = vus
		} else {
			steps = append(steps, vuChange{at, vus})
		}
	}
	var stageStart time.Duration
	for _, st := range c.Stages {
		to := st.Target
		T := int64(st.Duration)
		switch {
		case T == 0:
			add(stageStart, et.ScaleInt64(to))
		case to > cur:
			// This instance's m-th VU starts when the whole count reaches
			// one past its (m-1)-th striped index.
			for m := et.ScaleInt64(cur) + 1; m <= et.ScaleInt64(to); m++ {
				g := et.GlobalIndex(m-1) + 1
				add(stageStart+ceilDuration(T, g-cur, to-cur), m)
			}
		case to < cur:
			// Its count drops to m when the whole count drops to its m-th
			// striped index.
			for m := et.ScaleInt64(cur) - 1; m >= et.ScaleInt64(to); m-- {
				g := et.GlobalIndex(m)
				add(stageStart+ceilDuration(T, cur-g, cur-to), m)
			}
		}
		cur = to
		stageStart += st.Duration
	}
	// Changes at one instant may cancel out.
	return slices.CompactFunc(steps, func(a, b vuChange) bool { return a.VUs == b.VUs })
}

// ceilDuration returns ⌈T·num/den⌉ nanoseconds, saturating on overflow.
func ceilDuration(T, num, den int64) time.Duration {
	d, ok := ceilMulDiv(T, num, den)
	if !ok {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// windowMax answers "the highest count in effect during [a, b]" over a step
// function, for windows whose bounds never decrease between calls: a
// monotonic deque of step indices, each pushed and popped once.
type windowMax struct {
	steps []vuChange
	next  int   // the first step not yet pushed
	dq    []int // indices of pushed steps, their VUs decreasing
}

func (w *windowMax) max(a, b time.Duration) int64 {
	for w.next < len(w.steps) && w.steps[w.next].At <= b {
		for len(w.dq) > 0 && w.steps[w.dq[len(w.dq)-1]].VUs <= w.steps[w.next].VUs {
			w.dq = w.dq[:len(w.dq)-1]
		}
		w.dq = append(w.dq, w.next)
		w.next++
	}
	// The step in effect at a is the last one at or before it; steps
	// before that one ended before the window. The newest pushed step is
	// never dropped here (it is at or after first), so dq stays non-empty.
	first, _ := slices.BinarySearchFunc(w.steps, a, func(s vuChange, t time.Duration) int { return cmp.Compare(s.At, t) })
	if first == len(w.steps) || w.steps[first].At > a {
		first--
	}
	for w.dq[0] < first {
		w.dq = w.dq[1:]
	}
	return w.steps[w.dq[0]].VUs
}

// Requirements implements [Config]. VUs removed by a ramp-down stay reserved
// for gracefulRampDown (or until gracefulStop ends the scenario), so the
// planned count at t is the highest count within gracefulRampDown before t.
func (c RampingVUs) Requirements(et *ExecutionTuple) []VUStep {
	end := stagesDuration(c.Stages)
	grd, final := c.gracefulRampDown(), end+c.grace()
	if final == 0 {
		// Zero-length stages and no gracefulStop: k6 still initialises the
		// peak ("5 max VUs, 0s max duration").
		return []VUStep{{Planned: et.ScaleInt64(c.peak())}}
	}
	steps := c.vuSteps(et)
	lastAt := steps[len(steps)-1].At
	times := []time.Duration{0, end}
	for _, s := range steps {
		times = append(times, s.At, s.At+grd)
	}
	slices.Sort(times)
	// The planned count at t is the highest count in effect during the
	// window [a, b] (before the end: [t-grd, t]; after it: up to the last
	// change). Both bounds only grow with t, so a sliding-window maximum
	// over the steps keeps this O(steps): a test of 100 000 VUs has as
	// many steps, and rescanning the window for each made it quadratic.
	w := windowMax{steps: steps}
	var out []VUStep
	for _, t := range slices.Compact(times) {
		if t >= final {
			break
		}
		var planned int64
		if t < end {
			planned = w.max(max(t-grd, 0), t)
		} else {
			planned = w.max(min(max(t-grd, 0), lastAt), lastAt)
		}
		if len(out) == 0 || out[len(out)-1].Planned != planned {
			out = append(out, VUStep{Offset: t, Planned: planned})
		}
	}
	if out[len(out)-1].Planned != 0 {
		out = append(out, VUStep{Offset: final})
	}
	return out
}

// NewExecutor implements [Config].
func (c RampingVUs) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	c.Stages = slices.Clone(c.Stages)
	return &rampingVUsExecutor{tracker: newTracker(name, typeRampingVUs, stagesDuration(c.Stages)), cfg: c, et: et}
}

type rampingVUsExecutor struct {
	tracker
	cfg RampingVUs
	et  *ExecutionTuple
}

func (e *rampingVUsExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	steps := e.cfg.vuSteps(e.et)
	var peak int64
	for _, s := range steps {
		peak = max(peak, s.VUs)
	}
	e.vus.Store(peak)
	var next atomic.Int64
	set := &vuSet{t: &e.tracker, rt: rt, iterate: func(ctx context.Context, vu VU) {
		n := next.Add(1) - 1
		e.iterate(ctx, vu, Iteration{Scenario: e.scenario, InScenario: uint64(n), InTest: uint64(e.et.GlobalIndex(n))})
	}}
	start := e.started()
	set.st = newStopper(ctx, start, stagesDuration(e.cfg.Stages), e.cfg.GracefulStopOrDefault())
	err := e.drive(set, steps, start)
	if err == nil && ctx.Err() == nil && len(e.cfg.Stages) > 0 {
		// The stages ended: the VUs above the last target (a change at
		// the very end is no step) ramp down, as in k6.
		final := e.et.ScaleInt64(e.cfg.Stages[len(e.cfg.Stages)-1].Target)
		if final < int64(set.active) {
			_ = set.scale(set.st.soft, int(final), start.Add(stagesDuration(e.cfg.Stages)), e.cfg.gracefulRampDown())
			set.applyStops(time.Now())
		}
	}
	if err != nil {
		set.st.cancelSoft(err)
		set.st.cancelHard(err)
		err = fmt.Errorf("scenario %q: %w", e.scenario, err)
	}
	set.drain()
	set.st.release()
	return err
}

// drive applies the VU steps and ramp-down deadlines as they fall due,
// until the regular duration ends.
func (e *rampingVUsExecutor) drive(set *vuSet, steps []vuChange, start time.Time) error {
	grd := e.cfg.gracefulRampDown()
	timer := time.NewTimer(time.Duration(math.MaxInt64))
	defer timer.Stop()
	i := 0
	for {
		now := time.Now()
		for ; i < len(steps) && !start.Add(steps[i].At).After(now); i++ {
			if err := set.scale(set.st.soft, int(steps[i].VUs), now, grd); err != nil {
				if set.st.soft.Err() != nil {
					return nil // cancelled while waiting for a VU
				}
				return err
			}
		}
		set.applyStops(now)
		next, ok := set.nextStop()
		if i < len(steps) {
			if at := start.Add(steps[i].At); !ok || at.Before(next) {
				next, ok = at, true
			}
		}
		if !ok {
			<-set.st.soft.Done()
			return nil
		}
		timer.Reset(next.Sub(now))
		select {
		case <-set.st.soft.Done():
			return nil
		case <-timer.C:
		}
	}
}

type rampingVUsJSON struct {
	commonJSON
	StartVUs         *int64            `json:"startVUs,omitempty"`
	Stages           []json.RawMessage `json:"stages,omitempty"`
	GracefulRampDown json.RawMessage   `json:"gracefulRampDown,omitempty"`
}

// MarshalJSON writes k6's JSON form; unset fields are left out.
func (c RampingVUs) MarshalJSON() ([]byte, error) {
	w := rampingVUsJSON{commonJSON: c.toJSON(typeRampingVUs), StartVUs: c.StartVUs, Stages: encodeStages(c.Stages)}
	if c.GracefulRampDown != nil {
		w.GracefulRampDown = rawDuration(*c.GracefulRampDown)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *RampingVUs) UnmarshalJSON(b []byte) error {
	var w rampingVUsJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	out := RampingVUs{
		Common:           w.fromJSON(&errs, typeRampingVUs),
		StartVUs:         w.StartVUs,
		Stages:           decodeStages(&errs, w.Stages),
		GracefulRampDown: parseDuration(&errs, "gracefulRampDown", w.GracefulRampDown),
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}
