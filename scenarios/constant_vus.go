package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

const typeConstantVUs = "constant-vus"

// ConstantVUs is k6's constant-vus executor: VUs VUs loop iterations back to
// back for Duration, then running iterations get gracefulStop.
type ConstantVUs struct {
	Common
	// VUs is how many VUs loop; 0 means 1.
	VUs int64
	// Duration is how long iterations keep starting; required, >= 1s.
	Duration time.Duration
}

var _ Config = ConstantVUs{}

// Type returns "constant-vus".
func (ConstantVUs) Type() string { return typeConstantVUs }

func (c ConstantVUs) vus() int64 { return orOne(c.VUs) }

// Validate implements [Config].
func (c ConstantVUs) Validate() error {
	var p problems
	c.Common.validate(&p)
	if c.VUs < 0 {
		p.addf("vus", "must be > 0, got %d", c.VUs)
	}
	validateDuration(&p, "duration", c.Duration)
	return p.err()
}

// End implements [Config].
func (c ConstantVUs) End() time.Duration {
	return c.StartTime + c.Duration + c.GracefulStopOrDefault()
}

// Requirements implements [Config].
func (c ConstantVUs) Requirements(et *ExecutionTuple) []VUStep {
	return []VUStep{{Planned: et.ScaleInt64(c.vus())}, {Offset: c.Duration + c.GracefulStopOrDefault()}}
}

// Description implements [Config]: "10 looping VUs for 1m0s (gracefulStop: 30s)".
func (c ConstantVUs) Description(et *ExecutionTuple) string {
	return fmt.Sprintf("%d looping VUs for %s%s", et.ScaleInt64(c.vus()), c.Duration, c.info())
}

// NewExecutor implements [Config].
func (c ConstantVUs) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	return &constantVUsExecutor{tracker: newTracker(name, typeConstantVUs, c.Duration), cfg: c, et: et}
}

type constantVUsExecutor struct {
	tracker
	cfg ConstantVUs
	et  *ExecutionTuple
}

func (e *constantVUsExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	var next atomic.Int64
	return runLooping(ctx, rt, &e.tracker, e.et.ScaleInt64(e.cfg.vus()), e.cfg.Duration, e.cfg.GracefulStopOrDefault(),
		func(st *stopper, vu VU) {
			for st.running() {
				n := next.Add(1) - 1
				e.iterate(st.hard, vu, Iteration{Scenario: e.scenario, InScenario: uint64(n), InTest: uint64(e.et.GlobalIndex(n))})
			}
		})
}

type constantVUsJSON struct {
	commonJSON
	VUs      *int64          `json:"vus,omitempty"`
	Duration json.RawMessage `json:"duration,omitempty"`
}

// MarshalJSON writes k6's JSON form; zero fields are left out.
func (c ConstantVUs) MarshalJSON() ([]byte, error) {
	return json.Marshal(constantVUsJSON{
		commonJSON: c.toJSON(typeConstantVUs),
		VUs:        nonZero(c.VUs),
		Duration:   rawDurationOmitZero(c.Duration),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *ConstantVUs) UnmarshalJSON(b []byte) error {
	var w constantVUsJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	out := ConstantVUs{
		Common:   w.fromJSON(&errs, typeConstantVUs),
		VUs:      int64Or(w.VUs, 0),
		Duration: durationOr(parseDuration(&errs, "duration", w.Duration), 0),
	}
	out.explicitZero("vus", w.VUs, "must be > 0, got 0")
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}
