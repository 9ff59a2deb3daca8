package scenarios_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Decoding k6's options.scenarios (the ground truth's scripts/scenarios.js)
// and printing what k6 prints before a run.
func ExampleScenarios() {
	var sc scenarios.Scenarios
	err := json.Unmarshal([]byte(`{
		"car": {"executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s", "duration": "3s",
			"preAllocatedVUs": 1, "maxVUs": 2, "exec": "slow"},
		"si": {"executor": "shared-iterations", "vus": 2, "iterations": 6, "startTime": "1s", "exec": "info"}
	}`), &sc)
	if err != nil {
		panic(err)
	}
	if err := sc.Validate(); err != nil {
		panic(err)
	}
	planned, maxVUs := sc.PeakVUs(nil)
	fmt.Printf("%d scenarios, %d VUs before the start, up to %d\n", len(sc), planned, maxVUs)
	for _, name := range sc.Sorted() {
		fmt.Printf("* %s: %s\n", name, sc[name].Description(nil))
	}
	// Output:
	// 2 scenarios, 3 VUs before the start, up to 4
	// * car: 20.00 iterations/s for 3s (maxVUs: 1-2, exec: slow, gracefulStop: 30s)
	// * si: 6 iterations shared among 2 VUs (maxDuration: 10m0s, exec: info, startTime: 1s, gracefulStop: 30s)
}

// Validation reports every problem at once, each with its JSON path.
func ExampleScenarios_Validate() {
	sc := scenarios.Scenarios{
		"checkout": scenarios.RampingVUs{Stages: []scenarios.Stage{{Duration: time.Minute, Target: 10}, {Duration: time.Minute, Target: -2}}},
		"browse":   scenarios.ConstantVUs{VUs: 5},
	}
	for _, fe := range scenarios.FieldErrors(sc.Validate()) {
		fmt.Println(fe)
	}
	// Output:
	// scenarios.browse.duration: required, at least 1s
	// scenarios.checkout.stages[1].target: must be >= 0, got -2
}

// Splitting 10 VUs between three generators: the shares add up exactly.
func ExampleExecutionTuple_ScaleInt64() {
	seq, err := scenarios.ParseExecutionSegmentSequence("0,1/3,2/3,1")
	if err != nil {
		panic(err)
	}
	for _, seg := range seq {
		et, err := scenarios.NewExecutionTuple(seg, seq)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d VUs, iterations %d, %d, %d…\n", seg, et.ScaleInt64(10), et.GlobalIndex(0), et.GlobalIndex(1), et.GlobalIndex(2))
	}
	// Output:
	// 0:1/3: 4 VUs, iterations 0, 3, 6…
	// 1/3:2/3: 3 VUs, iterations 1, 4, 7…
	// 2/3:1: 3 VUs, iterations 2, 5, 8…
}

// The CLI's -u 2 -i 5 -d 3s and -s flags.
func ExampleShortcuts_Resolve() {
	sc, _, err := scenarios.Shortcuts{VUs: new(int64(2)), Iterations: new(int64(5)), Duration: new(3 * time.Second)}.Resolve()
	if err != nil {
		panic(err)
	}
	fmt.Println(sc[scenarios.DefaultScenarioName].Description(nil))

	stage, err := scenarios.ParseStage("30s:10")
	if err != nil {
		panic(err)
	}
	sc, _, err = scenarios.Shortcuts{Stages: []scenarios.Stage{stage}}.Resolve()
	if err != nil {
		panic(err)
	}
	fmt.Println(sc[scenarios.DefaultScenarioName].Description(nil))
	// Output:
	// 5 iterations shared among 2 VUs (maxDuration: 3s, gracefulStop: 30s)
	// Up to 10 looping VUs for 30s over 1 stages (gracefulRampDown: 30s, gracefulStop: 30s)
}

func ExampleSpike() {
	for name, c := range scenarios.Spike(scenarios.PresetParams{}) {
		var stages []string
		for _, s := range c.(scenarios.RampingVUs).Stages {
			stages = append(stages, s.String())
		}
		fmt.Println(strings.Join(stages, " "))
		fmt.Println(name+":", c.Description(nil))
	}
	// Output:
	// 30s:10 1m:50 30s:10 1m:0
	// spike: Up to 50 looping VUs for 3m0s over 4 stages (gracefulRampDown: 30s, gracefulStop: 30s)
}

// countingVU is an engine's VU reduced to a counter.
type countingVU struct{ n *atomic.Int64 }

func (v countingVU) Iterate(ctx context.Context, it scenarios.Iteration) bool {
	v.n.Add(1)
	return ctx.Err() == nil
}

type pool struct{ n atomic.Int64 }

func (p *pool) Get(context.Context) (scenarios.VU, error) { return countingVU{&p.n}, nil }
func (p *pool) Put(scenarios.VU)                          {}

// Running an executor: the engine supplies the VU pool and a sample sink.
func ExampleExecutor() {
	p := &pool{}
	ex := scenarios.SharedIterations{VUs: 2, Iterations: 5}.NewExecutor("si", nil)
	err := ex.Run(context.Background(), scenarios.Runtime{
		Pool:    p,
		Metrics: metrics.NewRegistry(),
		Emit:    func(s metrics.Sample) { fmt.Println(s.Metric.Name, s.Value) },
	})
	if err != nil {
		panic(err)
	}
	pr := ex.Progress()
	fmt.Println(p.n.Load(), "iterations;", pr.Completed, "complete,", pr.Interrupted, "interrupted; done:", pr.Done)
	// Output:
	// 5 iterations; 5 complete, 0 interrupted; done: true
}
