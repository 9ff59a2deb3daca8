// Package lttest runs loadlens plans inside Go tests: a load test becomes a
// test like any other, failing with a readable message when its thresholds
// fail.
//
//	func TestCheckoutUnderLoad(t *testing.T) {
//		srv := httptest.NewServer(handler)
//		defer srv.Close()
//		lttest.Run(t, loadtest.Plan{ ... })
//	}
package lttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Run runs plan under t's context and returns the result. It fails t (and
// goes on) when the plan is invalid, the run errors or is aborted, any
// threshold fails or any iteration returns an error (a Go iteration that
// panics returns one), with one message that names each failed threshold
// with its observed value and unit, and each iteration error.
func Run(t testing.TB, plan loadtest.Plan, outputs ...loadtest.Output) loadtest.Result {
	t.Helper()
	res, err := loadtest.Run(t.Context(), plan, outputs...)
	if err != nil {
		t.Errorf("load test %s: %v", nameOf(plan), err)
		return res
	}
	if msg := Failure(res); msg != "" {
		t.Errorf("load test %s: %s", nameOf(plan), msg)
	}
	return res
}

func nameOf(p loadtest.Plan) string {
	if p.Name != "" {
		return fmt.Sprintf("%q", p.Name)
	}
	return "(unnamed)"
}

// Failure describes why a result did not pass, or returns "" when it
// passed without iteration errors.
func Failure(res loadtest.Result) string {
	var iterErrs int64
	for _, e := range res.IterationErrors {
		iterErrs += e.Count
	}
	if res.Status == loadtest.StatusPassed && iterErrs == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "status %s", res.Status)
	if res.Abort != nil {
		fmt.Fprintf(&b, "; aborted by %s after %s: %s", res.Abort.By, res.Abort.After.Round(1e6), res.Abort.Reason)
	}
	if res.FailedBy != "" {
		fmt.Fprintf(&b, "; marked failed: %s", res.FailedBy)
	}
	if iterErrs > 0 {
		fmt.Fprintf(&b, "; %d of %.0f iterations returned an error", iterErrs, res.Metrics[metrics.Iterations].Values["count"])
	}
	for _, v := range res.Thresholds {
		if v.Status == metrics.Failed {
			fmt.Fprintf(&b, "\n\tthreshold %s '%s' failed: %s", v.Metric, v.Threshold.Source, res.Observed(v))
		}
	}
	for i, e := range res.IterationErrors {
		if i == 3 {
			fmt.Fprintf(&b, "\n\t… and %d more iteration errors", len(res.IterationErrors)-3)
			break
		}
		fmt.Fprintf(&b, "\n\titeration error ×%d: %s", e.Count, e.Message)
	}
	return b.String()
}
