package loadtest

import (
	"context"
	"maps"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// scenarioRun is one scenario of a run: its executor and what VUs need to
// run its iterations.
type scenarioRun struct {
	name     string
	config   scenarios.Config
	exec     string
	env      map[string]string
	tags     metrics.Tags
	executor scenarios.Executor
	start    atomic.Pointer[time.Time]
}

func newScenarioRun(name string, cfg scenarios.Config, et *scenarios.ExecutionTuple, planEnv map[string]string) *scenarioRun {
	sc := &scenarioRun{name: name, config: cfg, exec: cfg.Base().ExecOrDefault(), tags: metrics.TagsFromMap(cfg.Base().Tags),
		executor: cfg.NewExecutor(name, et)}
	if env := cfg.Base().Env; len(env) > 0 {
		sc.env = maps.Clone(planEnv)
		if sc.env == nil {
			sc.env = map[string]string{}
		}
		maps.Copy(sc.env, env)
	}
	return sc
}

func (sc *scenarioRun) started() time.Time {
	if t := sc.start.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

func (sc *scenarioRun) progress() scenarios.Progress { return sc.executor.Progress() }

// run waits for the scenario's startTime, then runs its executor.
func (sc *scenarioRun) run(ctx context.Context, r *run) {
	if d := sc.config.Base().StartTime; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	now := time.Now()
	sc.start.Store(&now)
	rt := scenarios.Runtime{
		Pool:    r.pool,
		Emit:    func(s metrics.Sample) { r.emitExecutor(s) },
		Metrics: r.registry,
		Tags:    r.runTags,
		Logger:  r.logger.With("scenario", sc.name),
	}
	if err := sc.executor.Run(ctx, rt); err != nil {
		r.warn("scenario %s: %v", sc.name, err)
	}
}
