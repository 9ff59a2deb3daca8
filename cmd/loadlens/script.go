package main

import (
	"context"
	"fmt"

	"github.com/loadlens/loadlens/loadtest"
)

// scriptPlan builds the plan of a k6 script: base options below the
// script's own, over on top.
func (a *app) scriptPlan(_ context.Context, path string, _ []byte, _, _ loadtest.K6Options, _ map[string]string) (loadtest.Plan, []string, error) {
	return loadtest.Plan{}, nil, fmt.Errorf("%w: %s: k6 scripts need the script runtime, which is not built yet", loadtest.ErrInvalidPlan, path)
}
