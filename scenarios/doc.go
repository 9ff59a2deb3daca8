// Package scenarios is loadlens's model of k6 scenarios: every k6 executor
// as a Go config struct, the executors that run iterations on the engine's
// VUs on k6's schedules, execution segments that split a test between
// generators with no coordinator, and preset test shapes.
//
// It imports only loadlens's metrics package and the standard library. It
// knows nothing of HTTP, JavaScript or outputs: the engine supplies VUs
// through a [VUPool], takes the executors' own samples (dropped_iterations
// and loadlens's iteration_lateness) through [Runtime.Emit], and may pass a
// *slog.Logger.
//
// # Configs
//
// [SharedIterations], [PerVUIterations], [ConstantVUs], [RampingVUs],
// [ConstantArrivalRate], [RampingArrivalRate] and [ExternallyControlled]
// implement [Config]. Their zero values are k6's defaults where k6 has one
// (a nil GracefulStop is 30s; point it at 0 for none). Their JSON uses k6's
// field names, durations as strings ("1m30s") or milliseconds, and is
// strict: unknown fields are errors. [Scenarios] is k6's options.scenarios;
// [Scenarios.Validate] reports every problem of every scenario at once as
// [FieldError] values with JSON paths ("scenarios.checkout.stages[1].target:
// must be >= 0, got -2"). [Shortcuts] turns k6's vus, duration, iterations
// and stages options into a "default" scenario.
//
// # Executors
//
// [Config.NewExecutor] returns an [Executor] for this instance's share of a
// scenario. Run drives iterations until the schedule ends: a soft context
// ends the schedule, a hard one (gracefulStop later, or at once when the
// context is cancelled with [ErrHardStop]) interrupts running iterations.
// Arrival-rate executors are open models: an iteration that finds no idle
// VU is dropped, never queued, and every started one reports how late it
// started against its schedule, so that coordinated omission is visible.
// Progress is safe to call at any time.
//
// # Execution segments
//
// [ParseExecutionSegment] and [ParseExecutionSegmentSequence] read k6's
// --execution-segment and --execution-segment-sequence values;
// [NewExecutionTuple] places a segment in its sequence. Each instance then
// scales VUs and iterations with k6's striping ([ExecutionTuple.ScaleInt64]),
// so that the instances' shares add up exactly to the whole, their arrival
// schedules together are the single-instance schedule, and their
// ramping-vus counts add up at every instant. A nil *ExecutionTuple is the
// whole test.
//
// # Usage
//
//	var sc scenarios.Scenarios
//	if err := json.Unmarshal(optionsScenarios, &sc); err != nil { … }
//	if err := sc.Validate(); err != nil { … } // every problem, with paths
//	planned, _ := sc.PeakVUs(et)              // VUs to initialise first
//	for _, name := range sc.Sorted() {
//		cfg := sc[name]
//		ex := cfg.NewExecutor(name, et)
//		// after cfg.Base().StartTime:
//		err := ex.Run(ctx, scenarios.Runtime{Pool: pool, Emit: emit, Metrics: reg, Tags: runTags})
//	}
package scenarios
