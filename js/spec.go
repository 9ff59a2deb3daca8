package js

import (
	"context"
	"io/fs"

	"github.com/loadlens/loadlens/loadtest"
)

// SpecPlan builds the plan of a test spec (a JSON test file, the agent's
// POST /load-test/start): its preset or options, with top (command-line
// flags) over them. A spec with a script (Script inline, or ScriptFile
// naming a file in fsys) runs it: the spec's layers go below and above the
// script's own options, as in [Plan]. Its imports and open() read fsys:
// nil means the OS file system (the CLI); the agent passes only the files a
// tenant uploaded. opts.Env is the environment as the caller decided it
// (the spec's env and -e values); a spec without a script gets it too.
//
// Errors are those of [Plan] and [loadtest.TestSpec.Plan].
func SpecPlan(ctx context.Context, spec loadtest.TestSpec, top loadtest.K6Options, fsys fs.FS, opts Options) (loadtest.Plan, []string, error) {
	base, specTop, err := spec.Layers()
	if err != nil {
		return loadtest.Plan{}, nil, loadtest.Invalid(err)
	}
	testType := spec.TestType
	if testType == "" {
		testType = loadtest.TestCustom
	}
	if spec.Script == "" && spec.ScriptFile == "" {
		plan := loadtest.Plan{Name: spec.Name, TestType: testType, Target: spec.Target, Env: opts.Env,
			Telemetry: spec.Telemetry, Logger: opts.Logger}
		if plan.Name == "" && spec.Target != nil {
			plan.Name = spec.Target.Name
		}
		warnings, err := base.Override(specTop).Override(top).Apply(&plan)
		if err != nil {
			return loadtest.Plan{}, nil, err
		}
		return plan, warnings, plan.Validate()
	}
	src := Source{Filename: "script.js", Code: []byte(spec.Script), FS: fsys}
	if spec.Script == "" {
		src = Source{Path: spec.ScriptFile, FS: fsys}
	}
	plan, _, warnings, err := Plan(ctx, src, base, specTop.Override(top), opts)
	if err != nil {
		return plan, warnings, err
	}
	plan.Name, plan.TestType, plan.Telemetry = spec.Name, testType, spec.Telemetry
	return plan, warnings, plan.Validate()
}
