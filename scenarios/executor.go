package scenarios

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// ErrHardStop, as the cause of a cancelled context given to [Executor.Run],
// interrupts running iterations at once instead of granting gracefulStop.
var ErrHardStop = errors.New("hard stop")

// VU is one virtual user. The engine owns VUs; executors borrow them from a
// [VUPool] and run iterations on them.
type VU interface {
	// Iterate runs one iteration and reports whether it completed. It returns
	// false when ctx ended first (the iteration was interrupted); then, as in
	// k6, no iterations or iteration_duration sample is emitted for it.
	Iterate(ctx context.Context, it Iteration) (completed bool)
}

// Iteration tells a VU what it is running: the k6/execution values.
type Iteration struct {
	Scenario   string // scenario name: the engine looks up its exec, env and tags
	InScenario uint64 // iteration number in this instance's share of the scenario, 0-based
	// InTest is the iteration number across all execution segments, 0-based
	// and unique among instances. For shared- and per-vu-iterations the
	// instances' numbers together are exactly 0 … total-1; for arrival-rate
	// executors it is the index in the whole test's schedule (a dropped
	// iteration leaves its number unused).
	InTest uint64
	// Scheduled is when an arrival-rate iteration was due; zero for looping
	// executors. The difference to the actual start is the lateness.
	Scheduled time.Time
}

// VUPool hands out initialised VUs. The engine implements it; it is safe for
// concurrent use.
type VUPool interface {
	// Get returns an idle VU, initialising a new one when none is idle. It
	// blocks only for initialisation and fails when ctx ends or no more VUs
	// may be initialised.
	Get(ctx context.Context) (VU, error)
	// Put returns a VU to the pool.
	Put(VU)
}

// Runtime is what an executor needs from the engine.
type Runtime struct {
	Pool VUPool
	// Emit receives the executor's own samples (dropped_iterations,
	// iteration_lateness). It must not block for long and is safe to call
	// from many goroutines. nil: no samples.
	Emit func(metrics.Sample)
	// Metrics resolves the built-in metrics that Emit samples refer to.
	// nil: no samples.
	Metrics *metrics.Registry
	// Tags are the run's tags; executor samples add the scenario tag to them.
	Tags   metrics.Tags
	Logger *slog.Logger // nil discards
}

// Executor runs one scenario. Build one with [Config.NewExecutor].
type Executor interface {
	// Run drives iterations until the schedule ends and every iteration has
	// returned. Cancelling ctx ends the schedule early: no new iteration
	// starts and running ones get gracefulStop before their contexts are
	// cancelled; with cause ErrHardStop they are interrupted at once. Run
	// returns an error only when it could not run (no VU could be had).
	Run(ctx context.Context, rt Runtime) error
	// Progress reports how far the run is; safe to call at any time.
	Progress() Progress
}

// Progress is a snapshot of an executor for progress bars and status APIs.
type Progress struct {
	Scenario string        `json:"scenario"`
	Executor string        `json:"executor"`
	Fraction float64       `json:"fraction"` // 0 … 1
	Elapsed  time.Duration `json:"elapsed"`
	Duration time.Duration `json:"duration"` // regular duration, without gracefulStop
	// ActiveVUs are the VUs looping iterations now; for arrival-rate
	// executors, the VUs running an iteration now.
	ActiveVUs int64 `json:"active_vus"`
	// MaxVUs is this instance's planned peak of VUs (externally-controlled:
	// maxVUs); for arrival-rate executors, the VUs initialised so far.
	MaxVUs      int64  `json:"max_vus"`
	Completed   uint64 `json:"completed"`   // iterations
	Interrupted uint64 `json:"interrupted"` // iterations
	Dropped     uint64 `json:"dropped"`     // iterations
	Done        bool   `json:"done"`
}
