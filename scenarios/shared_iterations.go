package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

const typeSharedIterations = "shared-iterations"

// SharedIterations is k6's shared-iterations executor: VUs VUs share a pool
// of Iterations iterations, each VU taking the next one as soon as it is
// free, so fast VUs do more. Iterations not started by MaxDuration are
// reported as one dropped_iterations sample.
//
// Across execution segments the VUs are split with the tuple, and the
// iterations in proportion to each instance's VUs, so both add up exactly.
type SharedIterations struct {
	Common
	// VUs is how many VUs share the iterations; 0 means 1.
	VUs int64
	// Iterations is the total number of iterations; 0 means 1; >= VUs.
	Iterations int64
	// MaxDuration stops starting iterations after this long; 0 means 10m;
	// >= 1s.
	MaxDuration time.Duration
}

var _ Config = SharedIterations{}

// Type returns "shared-iterations".
func (SharedIterations) Type() string { return typeSharedIterations }

func (c SharedIterations) vus() int64        { return orOne(c.VUs) }
func (c SharedIterations) iterations() int64 { return orOne(c.Iterations) }
func (c SharedIterations) maxDuration() time.Duration {
	return durationOrDefault(c.MaxDuration, DefaultMaxDuration)
}

// Validate implements [Config].
func (c SharedIterations) Validate() error {
	var p problems
	c.Common.validate(&p)
	if c.VUs < 0 {
		p.addf("vus", "must be > 0, got %d", c.VUs)
	}
	switch {
	case c.Iterations < 0:
		p.addf("iterations", "must be > 0, got %d", c.Iterations)
	case c.iterations() < c.vus():
		p.addf("iterations", "must be >= vus (%d), got %d", c.vus(), c.iterations())
	}
	validateMaxDuration(&p, c.MaxDuration)
	return p.err()
}

// End implements [Config].
func (c SharedIterations) End() time.Duration {
	return c.StartTime + c.maxDuration() + c.GracefulStopOrDefault()
}

// Requirements implements [Config].
func (c SharedIterations) Requirements(et *ExecutionTuple) []VUStep {
	return []VUStep{{Planned: et.ScaleInt64(c.vus())}, {Offset: c.maxDuration() + c.GracefulStopOrDefault()}}
}

// Description implements [Config]: "5 iterations shared among 2 VUs
// (maxDuration: 3s, gracefulStop: 30s)".
func (c SharedIterations) Description(et *ExecutionTuple) string {
	vus, iters, _ := c.split(et)
	return fmt.Sprintf("%d iterations shared among %d VUs%s", iters.n, vus, c.info("maxDuration: "+c.maxDuration().String()))
}

// splitIters is an instance's share of iterations and the tuple that maps
// its local iteration numbers to global ones.
type splitIters struct {
	n  int64
	et *ExecutionTuple
}

// split returns this instance's VUs and iterations; the iterations follow
// the VUs (k6: GetNewExecutionTupleFromValue(vus)). It fails only when the
// re-split sequence would be longer than [MaxSegmentLCD].
func (c SharedIterations) split(et *ExecutionTuple) (int64, splitIters, error) {
	vus := et.ScaleInt64(c.vus())
	if vus == 0 {
		return 0, splitIters{}, nil
	}
	nt, err := et.NewFromValue(c.vus())
	if err != nil {
		return 0, splitIters{}, err
	}
	return vus, splitIters{n: nt.ScaleInt64(c.iterations()), et: nt}, nil
}

// NewExecutor implements [Config].
func (c SharedIterations) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	return &sharedIterationsExecutor{tracker: newTracker(name, typeSharedIterations, c.maxDuration()), cfg: c, et: et}
}

type sharedIterationsExecutor struct {
	tracker
	cfg SharedIterations
	et  *ExecutionTuple
}

func (e *sharedIterationsExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	vus, iters, err := e.cfg.split(e.et)
	if err != nil {
		return fmt.Errorf("scenario %q: %w", e.scenario, err)
	}
	e.total.Store(uint64(iters.n))
	var attempted atomic.Int64
	err = runLooping(ctx, rt, &e.tracker, vus, e.cfg.maxDuration(), e.cfg.GracefulStopOrDefault(),
		func(st *stopper, vu VU) {
			for st.running() {
				n := attempted.Add(1)
				if n > iters.n {
					return
				}
				e.iterate(st.hard, vu, Iteration{Scenario: e.scenario, InScenario: uint64(n - 1), InTest: uint64(iters.et.GlobalIndex(n - 1))})
			}
		})
	if err != nil {
		return err
	}
	if left := iters.n - min(attempted.Load(), iters.n); left > 0 {
		e.dropped.Add(uint64(left))
		newEmitter(rt, e.scenario).drop(left)
	}
	return nil
}

type iterationsJSON struct {
	commonJSON
	VUs         *int64          `json:"vus,omitempty"`
	Iterations  *int64          `json:"iterations,omitempty"`
	MaxDuration json.RawMessage `json:"maxDuration,omitempty"`
}

// MarshalJSON writes k6's JSON form; zero fields are left out.
func (c SharedIterations) MarshalJSON() ([]byte, error) {
	return json.Marshal(iterationsJSON{
		commonJSON:  c.toJSON(typeSharedIterations),
		VUs:         nonZero(c.VUs),
		Iterations:  nonZero(c.Iterations),
		MaxDuration: rawDurationOmitZero(c.MaxDuration),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *SharedIterations) UnmarshalJSON(b []byte) error {
	common, vus, iters, maxDur, err := decodeIterations(b, typeSharedIterations)
	if err != nil {
		return err
	}
	*c = SharedIterations{Common: common, VUs: vus, Iterations: iters, MaxDuration: maxDur}
	return nil
}

// decodeIterations decodes the fields shared- and per-vu-iterations have in
// common.
func decodeIterations(b []byte, executor string) (Common, int64, int64, time.Duration, error) {
	var w iterationsJSON
	if err := decodeStrict(b, &w); err != nil {
		return Common{}, 0, 0, 0, err
	}
	var errs []error
	common := w.fromJSON(&errs, executor)
	maxDur := parseDuration(&errs, "maxDuration", w.MaxDuration)
	common.explicitZero("vus", w.VUs, "must be > 0, got 0")
	common.explicitZero("iterations", w.Iterations, "must be > 0, got 0")
	common.explicitZeroDuration("maxDuration", maxDur, fmt.Sprintf("must be >= %s, got 0s", MinDuration))
	if len(errs) > 0 {
		return Common{}, 0, 0, 0, errors.Join(errs...)
	}
	return common, int64Or(w.VUs, 0), int64Or(w.Iterations, 0), durationOr(maxDur, 0), nil
}
