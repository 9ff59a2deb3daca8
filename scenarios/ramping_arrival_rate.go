package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

const typeRampingArrivalRate = "ramping-arrival-rate"

// RampingArrivalRate is k6's ramping-arrival-rate executor, an open model
// whose rate moves linearly from StartRate through the stage targets
// (iterations per TimeUnit). The k-th iteration (1-based, across all
// instances) starts when the integral of the rate since the start reaches
// k; so in a flat stage the first iteration is at 1/rate, not at 0. Drops,
// unplanned VUs, lateness samples and segmentation work as in
// [ConstantArrivalRate].
type RampingArrivalRate struct {
	Common
	// StartRate is the rate at the start, iterations per TimeUnit; >= 0.
	StartRate int64
	// TimeUnit is the period of the rates; 0 means 1s.
	TimeUnit time.Duration
	// Stages move the rate to each Target over its Duration; at least one.
	Stages []Stage
	// PreAllocatedVUs are taken from the pool before the start; >= 0.
	PreAllocatedVUs int64
	// MaxVUs bounds the VUs, initialised ones included; 0 means
	// PreAllocatedVUs; >= PreAllocatedVUs.
	MaxVUs int64
}

var _ Config = RampingArrivalRate{}

// Type returns "ramping-arrival-rate".
func (RampingArrivalRate) Type() string { return typeRampingArrivalRate }

func (c RampingArrivalRate) timeUnit() time.Duration {
	return durationOrDefault(c.TimeUnit, DefaultTimeUnit)
}
func (c RampingArrivalRate) maxVUs() int64 { return max(c.MaxVUs, c.PreAllocatedVUs) }

// Validate implements [Config].
func (c RampingArrivalRate) Validate() error {
	var p problems
	c.Common.validate(&p)
	if c.StartRate < 0 {
		p.addf("startRate", "must be >= 0, got %d", c.StartRate)
	}
	validateTimeUnit(&p, c.TimeUnit)
	validateStages(&p, c.Stages, "rate")
	validateArrivalVUs(&p, c.PreAllocatedVUs, c.MaxVUs)
	return p.err()
}

// End implements [Config].
func (c RampingArrivalRate) End() time.Duration {
	return c.StartTime + stagesDuration(c.Stages) + c.GracefulStopOrDefault()
}

// Requirements implements [Config].
func (c RampingArrivalRate) Requirements(et *ExecutionTuple) []VUStep {
	s, _ := splitArrival(et, c.PreAllocatedVUs, c.maxVUs())
	return []VUStep{{Planned: s.preAllocated, Unplanned: s.maxVUs - s.preAllocated}, {Offset: stagesDuration(c.Stages) + c.GracefulStopOrDefault()}}
}

// Description implements [Config]: "Up to 50.00 iterations/s for 1m30s over
// 3 stages (maxVUs: 10-100, gracefulStop: 30s)".
func (c RampingArrivalRate) Description(et *ExecutionTuple) string {
	s, _ := splitArrival(et, c.PreAllocatedVUs, c.maxVUs())
	peak := c.StartRate
	for _, st := range c.Stages {
		peak = max(peak, st.Target)
	}
	return fmt.Sprintf("Up to %.2f iterations/s for %s over %d stages%s", perSecond(float64(peak)*s.share, c.timeUnit()),
		stagesDuration(c.Stages), len(c.Stages), c.info(s.maxVUsInfo()))
}

// NewExecutor implements [Config].
func (c RampingArrivalRate) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	c.Stages = append([]Stage(nil), c.Stages...)
	return &rampingArrivalRateExecutor{tracker: newTracker(name, typeRampingArrivalRate, stagesDuration(c.Stages)), cfg: c, et: et}
}

type rampingArrivalRateExecutor struct {
	tracker
	cfg RampingArrivalRate
	et  *ExecutionTuple
}

func (e *rampingArrivalRateExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	s, err := splitArrival(e.et, e.cfg.PreAllocatedVUs, e.cfg.maxVUs())
	if err != nil {
		return fmt.Errorf("scenario %q: %w", e.scenario, err)
	}
	sched := e.cfg.schedule(s.et)
	return runArrival(ctx, rt, &e.tracker, sched, s.preAllocated, s.maxVUs, stagesDuration(e.cfg.Stages), e.cfg.GracefulStopOrDefault())
}

// rateStage is a stage with rates per second and its place in time and in
// the cumulative iteration count.
type rateStage struct {
	start    time.Duration
	seconds  float64
	from, to float64 // iterations per second
	before   float64 // integral of the rate before the stage
	integral float64 // iterations within the stage
}

func (c RampingArrivalRate) schedule(et *ExecutionTuple) *rampingSchedule {
	s := &rampingSchedule{et: et, end: stagesDuration(c.Stages)}
	unit := c.timeUnit()
	from := perSecond(float64(c.StartRate), unit)
	var at time.Duration
	var total float64
	for _, st := range c.Stages {
		to := perSecond(float64(st.Target), unit)
		rs := rateStage{start: at, seconds: st.Duration.Seconds(), from: from, to: to, before: total}
		rs.integral = (from + to) / 2 * rs.seconds
		s.stages = append(s.stages, rs)
		total += rs.integral
		at += st.Duration
		from = to
	}
	return s
}

// rampingSchedule yields the global iterations in the tuple's stripe at the
// times where the rate's integral reaches their 1-based number.
type rampingSchedule struct {
	et     *ExecutionTuple
	local  int64
	stages []rateStage
	idx    int // stage of the previous iteration: times only grow
	end    time.Duration
}

func (s *rampingSchedule) next() (int64, time.Duration, bool) {
	gi := s.et.GlobalIndex(s.local)
	k := float64(gi) + 1
	for s.idx < len(s.stages) && k > s.stages[s.idx].before+s.stages[s.idx].integral {
		s.idx++
	}
	if s.idx == len(s.stages) {
		return 0, 0, false
	}
	st := s.stages[s.idx]
	x := k - st.before // iterations into the stage, in (0, integral]
	// Solve from·t + (to-from)·t²/(2T) = x for t; this form of the root
	// stays exact when from ≈ to (and is x/from when they are equal).
	disc := st.from*st.from + 2*x*(st.to-st.from)/st.seconds
	t := 2 * x / (st.from + math.Sqrt(max(disc, 0)))
	at := st.start + time.Duration(math.Round(t*float64(time.Second)))
	if at >= s.end {
		return 0, 0, false
	}
	s.local++
	return gi, at, true
}

type rampingArrivalRateJSON struct {
	commonJSON
	StartRate       *int64            `json:"startRate,omitempty"`
	TimeUnit        json.RawMessage   `json:"timeUnit,omitempty"`
	Stages          []json.RawMessage `json:"stages,omitempty"`
	PreAllocatedVUs *int64            `json:"preAllocatedVUs,omitempty"`
	MaxVUs          *int64            `json:"maxVUs,omitempty"`
}

// MarshalJSON writes k6's JSON form; zero fields are left out except
// preAllocatedVUs, which k6 requires.
func (c RampingArrivalRate) MarshalJSON() ([]byte, error) {
	return json.Marshal(rampingArrivalRateJSON{
		commonJSON:      c.toJSON(typeRampingArrivalRate),
		StartRate:       nonZero(c.StartRate),
		TimeUnit:        rawDurationOmitZero(c.TimeUnit),
		Stages:          encodeStages(c.Stages),
		PreAllocatedVUs: &c.PreAllocatedVUs,
		MaxVUs:          nonZero(c.MaxVUs),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *RampingArrivalRate) UnmarshalJSON(b []byte) error {
	var w rampingArrivalRateJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	out := RampingArrivalRate{
		Common:          w.fromJSON(&errs, typeRampingArrivalRate),
		StartRate:       int64Or(w.StartRate, 0),
		Stages:          decodeStages(&errs, w.Stages),
		PreAllocatedVUs: int64Or(w.PreAllocatedVUs, 0),
		MaxVUs:          int64Or(w.MaxVUs, 0),
	}
	unit := parseDuration(&errs, "timeUnit", w.TimeUnit)
	out.TimeUnit = durationOr(unit, 0)
	out.arrivalJSONProblems(unit, w.PreAllocatedVUs, w.MaxVUs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}
