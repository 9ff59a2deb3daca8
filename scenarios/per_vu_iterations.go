package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

const typePerVUIterations = "per-vu-iterations"

// PerVUIterations is k6's per-vu-iterations executor: each of VUs VUs runs
// Iterations iterations. A VU that has not started all of them by
// MaxDuration emits one dropped_iterations sample for the rest.
//
// Across execution segments only the VUs are split; Iterations stays per VU.
type PerVUIterations struct {
	Common
	// VUs is how many VUs run; 0 means 1.
	VUs int64
	// Iterations is how many iterations each VU runs; 0 means 1.
	Iterations int64
	// MaxDuration stops starting iterations after this long; 0 means 10m;
	// >= 1s.
	MaxDuration time.Duration
}

var _ Config = PerVUIterations{}

// Type returns "per-vu-iterations".
func (PerVUIterations) Type() string { return typePerVUIterations }

func (c PerVUIterations) vus() int64        { return orOne(c.VUs) }
func (c PerVUIterations) iterations() int64 { return orOne(c.Iterations) }
func (c PerVUIterations) maxDuration() time.Duration {
	return durationOrDefault(c.MaxDuration, DefaultMaxDuration)
}

// Validate implements [Config].
func (c PerVUIterations) Validate() error {
	var p problems
	c.Common.validate(&p)
	if c.VUs < 0 {
		p.addf("vus", "must be > 0, got %d", c.VUs)
	}
	if c.Iterations < 0 {
		p.addf("iterations", "must be > 0, got %d", c.Iterations)
	}
	validateMaxDuration(&p, c.MaxDuration)
	return p.err()
}

// End implements [Config].
func (c PerVUIterations) End() time.Duration {
	return c.StartTime + c.maxDuration() + c.GracefulStopOrDefault()
}

// Requirements implements [Config].
func (c PerVUIterations) Requirements(et *ExecutionTuple) []VUStep {
	return []VUStep{{Planned: et.ScaleInt64(c.vus())}, {Offset: c.maxDuration() + c.GracefulStopOrDefault()}}
}

// Description implements [Config]: "1 iterations for each of 1 VUs
// (maxDuration: 10m0s, gracefulStop: 30s)".
func (c PerVUIterations) Description(et *ExecutionTuple) string {
	return fmt.Sprintf("%d iterations for each of %d VUs%s", c.iterations(), et.ScaleInt64(c.vus()),
		c.info("maxDuration: "+c.maxDuration().String()))
}

// NewExecutor implements [Config].
func (c PerVUIterations) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	return &perVUIterationsExecutor{tracker: newTracker(name, typePerVUIterations, c.maxDuration()), cfg: c, et: et}
}

type perVUIterationsExecutor struct {
	tracker
	cfg PerVUIterations
	et  *ExecutionTuple
}

func (e *perVUIterationsExecutor) Run(ctx context.Context, rt Runtime) error {
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	vus, iters := e.et.ScaleInt64(e.cfg.vus()), e.cfg.iterations()
	if vus == 0 {
		return nil
	}
	// Global iteration numbers follow the VU split, so that the instances'
	// numbers together are exactly 0 … vus·iterations-1.
	nt, err := e.et.NewFromValue(e.cfg.vus())
	if err != nil {
		return fmt.Errorf("scenario %q: %w", e.scenario, err)
	}
	e.total.Store(uint64(vus * iters))
	em := newEmitter(rt, e.scenario)
	var next atomic.Int64
	return runLooping(ctx, rt, &e.tracker, vus, e.cfg.maxDuration(), e.cfg.GracefulStopOrDefault(),
		func(st *stopper, vu VU) {
			var done int64
			for ; done < iters && st.running(); done++ {
				n := next.Add(1) - 1
				e.iterate(st.hard, vu, Iteration{Scenario: e.scenario, InScenario: uint64(n), InTest: uint64(nt.GlobalIndex(n))})
			}
			if left := iters - done; left > 0 {
				e.dropped.Add(uint64(left))
				em.drop(left)
			}
		})
}

// MarshalJSON writes k6's JSON form; zero fields are left out.
func (c PerVUIterations) MarshalJSON() ([]byte, error) {
	return json.Marshal(iterationsJSON{
		commonJSON:  c.toJSON(typePerVUIterations),
		VUs:         nonZero(c.VUs),
		Iterations:  nonZero(c.Iterations),
		MaxDuration: rawDurationOmitZero(c.MaxDuration),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *PerVUIterations) UnmarshalJSON(b []byte) error {
	common, vus, iters, maxDur, err := decodeIterations(b, typePerVUIterations)
	if err != nil {
		return err
	}
	*c = PerVUIterations{Common: common, VUs: vus, Iterations: iters, MaxDuration: maxDur}
	return nil
}
