package loadtest

import (
	"time"

	"github.com/loadlens/loadlens/scenarios"
)

// The few facts the engine needs from a scenario config, in one place.

func sortedScenarioNames(s scenarios.Scenarios) []string { return s.Sorted() }

func scenarioExec(cfg scenarios.Config) string             { return cfg.Base().ExecOrDefault() }
func scenarioEnv(cfg scenarios.Config) map[string]string   { return cfg.Base().Env }
func scenarioTags(cfg scenarios.Config) map[string]string  { return cfg.Base().Tags }
func scenarioStartTime(cfg scenarios.Config) time.Duration { return cfg.Base().StartTime }

func (r *run) scenarioTuple() *scenarios.ExecutionTuple {
	et, _ := r.plan.Options.ExecutionTuple() // validated
	return et
}
