package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const typeConstantArrivalRate = "constant-arrival-rate"

// ConstantArrivalRate is k6's constant-arrival-rate executor, an open model:
// iteration i (0-based, across all instances) starts at i·TimeUnit/Rate from
// the scenario's start, the first at 0, as long as that is before Duration.
// An iteration that finds no idle VU is dropped (one dropped_iterations
// sample of value 1), never queued; then, below MaxVUs, one more VU is
// initialised in the background. Each started iteration also emits an
// iteration_lateness sample: how late it started against its schedule.
//
// Across execution segments the VUs are split with the tuple, and the
// iterations are the global schedule's indices in the stripe of the tuple
// re-split by MaxVUs, so the instances' schedules together are exactly the
// single-instance schedule.
type ConstantArrivalRate struct {
	Common
	// Rate is how many iterations start per TimeUnit; required, > 0.
	Rate int64
	// TimeUnit is the period of Rate; 0 means 1s.
	TimeUnit time.Duration
	// Duration is how long iterations keep starting; required, >= 1s.
	Duration time.Duration
	// PreAllocatedVUs are taken from the pool before the start; >= 0.
	PreAllocatedVUs int64
	// MaxVUs bounds the VUs, initialised ones included; 0 means
	// PreAllocatedVUs; >= PreAllocatedVUs.
	MaxVUs int64
}

var _ Config = ConstantArrivalRate{}

// Type returns "constant-arrival-rate".
func (ConstantArrivalRate) Type() string { return typeConstantArrivalRate }

func (c ConstantArrivalRate) timeUnit() time.Duration {
	return durationOrDefault(c.TimeUnit, DefaultTimeUnit)
}
func (c ConstantArrivalRate) maxVUs() int64 { return max(c.MaxVUs, c.PreAllocatedVUs) }

// Validate implements [Config].
func (c ConstantArrivalRate) Validate() error {
	var p problems
	c.Common.validate(&p)
	switch {
	case c.Rate == 0:
		p.addf("rate", "required, > 0")
	case c.Rate < 0:
		p.addf("rate", "must be > 0, got %d", c.Rate)
	}
	validateTimeUnit(&p, c.TimeUnit)
	validateDuration(&p, "duration", c.Duration)
	validateArrivalVUs(&p, c.PreAllocatedVUs, c.MaxVUs)
	return p.err()
}

// End implements [Config].
func (c ConstantArrivalRate) End() time.Duration {
	return c.StartTime + c.Duration + c.GracefulStopOrDefault()
}

// Requirements implements [Config].
func (c ConstantArrivalRate) Requirements(et *ExecutionTuple) []VUStep {
	s, _ := splitArrival(et, c.PreAllocatedVUs, c.maxVUs())
	return []VUStep{{Planned: s.preAllocated, Unplanned: s.maxVUs - s.preAllocated}, {Offset: c.Duration + c.GracefulStopOrDefault()}}
}

// Description implements [Config]: "100.00 iterations/s for 30s (maxVUs:
// 100-200, gracefulStop: 30s)".
func (c ConstantArrivalRate) Description(et *ExecutionTuple) string {
	s, _ := splitArrival(et, c.PreAllocatedVUs, c.maxVUs())
	return fmt.Sprintf("%.2f iterations/s for %s%s", perSecond(float64(c.Rate)*s.share, c.timeUnit()), c.Duration, c.info(s.maxVUsInfo()))
}

// NewExecutor implements [Config].
func (c ConstantArrivalRate) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	return &constantArrivalRateExecutor{tracker: newTracker(name, typeConstantArrivalRate, c.Duration), cfg: c, et: et}
}

type constantArrivalRateExecutor struct {
	tracker
	cfg ConstantArrivalRate
	et  *ExecutionTuple
}

func (e *constantArrivalRateExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	s, err := splitArrival(e.et, e.cfg.PreAllocatedVUs, e.cfg.maxVUs())
	if err != nil {
		return fmt.Errorf("scenario %q: %w", e.scenario, err)
	}
	sched := e.cfg.schedule(s.et)
	return runArrival(ctx, rt, &e.tracker, sched, s.preAllocated, s.maxVUs, e.cfg.Duration, e.cfg.GracefulStopOrDefault())
}

func (c ConstantArrivalRate) schedule(et *ExecutionTuple) *constantSchedule {
	return &constantSchedule{et: et, unit: c.timeUnit(), rate: c.Rate, end: c.Duration}
}

// constantSchedule yields iteration gi at gi·unit/rate for the global
// indices in the tuple's stripe.
type constantSchedule struct {
	et    *ExecutionTuple
	local int64
	unit  time.Duration
	rate  int64
	end   time.Duration
}

func (s *constantSchedule) next() (int64, time.Duration, bool) {
	gi := s.et.GlobalIndex(s.local)
	at, ok := mulDiv(gi, int64(s.unit), s.rate)
	if !ok || time.Duration(at) >= s.end {
		return 0, 0, false
	}
	s.local++
	return gi, time.Duration(at), true
}

type constantArrivalRateJSON struct {
	commonJSON
	Rate            *int64          `json:"rate,omitempty"`
	TimeUnit        json.RawMessage `json:"timeUnit,omitempty"`
	Duration        json.RawMessage `json:"duration,omitempty"`
	PreAllocatedVUs *int64          `json:"preAllocatedVUs,omitempty"`
	MaxVUs          *int64          `json:"maxVUs,omitempty"`
}

// MarshalJSON writes k6's JSON form; zero fields are left out except
// preAllocatedVUs, which k6 requires.
func (c ConstantArrivalRate) MarshalJSON() ([]byte, error) {
	return json.Marshal(constantArrivalRateJSON{
		commonJSON:      c.toJSON(typeConstantArrivalRate),
		Rate:            nonZero(c.Rate),
		TimeUnit:        rawDurationOmitZero(c.TimeUnit),
		Duration:        rawDurationOmitZero(c.Duration),
		PreAllocatedVUs: &c.PreAllocatedVUs,
		MaxVUs:          nonZero(c.MaxVUs),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *ConstantArrivalRate) UnmarshalJSON(b []byte) error {
	var w constantArrivalRateJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	out := ConstantArrivalRate{
		Common:          w.fromJSON(&errs, typeConstantArrivalRate),
		Rate:            int64Or(w.Rate, 0),
		Duration:        durationOr(parseDuration(&errs, "duration", w.Duration), 0),
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

// arrivalJSONProblems records what k6 rejects in the JSON of both
// arrival-rate executors but the Go zero values cannot show.
func (c *Common) arrivalJSONProblems(unit *time.Duration, preAllocated, maxVUs *int64) {
	c.explicitZeroDuration("timeUnit", unit, "must be > 0, got 0s")
	if preAllocated == nil {
		c.jsonProblems = append(c.jsonProblems, &FieldError{Path: "preAllocatedVUs", Msg: "required"})
	} else if *preAllocated > 0 {
		c.explicitZero("maxVUs", maxVUs, fmt.Sprintf("must be >= preAllocatedVUs (%d), got 0", *preAllocated))
	}
}
