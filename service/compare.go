package service

import (
	"fmt"
	"net/http"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/store"
)

// CompareResponse is the body of GET /load-test/{id}/compare/{other}: run
// id (the current run) against another run of the tenant, or against its
// baseline (store.Baseline).
//
// Comparison is report.Compare's answer, the one `loadlens compare` gives
// for the same pair of runs. Metrics, Regressions, Improvements and
// Thresholds restate it in the shape of the endpoint's first version, for
// its clients.
type CompareResponse struct {
	Run   string `json:"run"`
	Other string `json:"other"`
	// Baseline is set when Other is the run's baseline.
	Baseline   bool              `json:"baseline"`
	Comparison report.Comparison `json:"comparison"`

	// Metrics are Comparison's run-wide metrics that both runs have.
	Metrics []CompareMetric `json:"metrics"`
	// Regressions and Improvements count Metrics that are worse or better.
	Regressions  int `json:"regressions"`
	Improvements int `json:"improvements"`
	// Thresholds lists thresholds of both runs whose verdict differs.
	Thresholds []CompareThreshold `json:"thresholds,omitempty"`
}

// CompareMetric is one metric of a CompareResponse. Change is (run −
// other) / other; it is omitted when other is 0.
type CompareMetric struct {
	// Name is the metric and its aggregation: "http_req_duration.p95",
	// "http_req_failed.rate".
	Name   string   `json:"name"`
	Run    float64  `json:"run"`
	Other  float64  `json:"other"`
	Change *float64 `json:"change,omitempty"`
	// HigherIsWorse says which direction is a regression.
	HigherIsWorse bool `json:"higher_is_worse"`
	// Verdict is "regressed", "improved" or "unchanged": the metric's
	// report.Outcome.
	Verdict string `json:"verdict"`
}

// CompareThreshold is a threshold whose verdict changed.
type CompareThreshold struct {
	Metric string `json:"metric"`
	Expr   string `json:"threshold"`
	Run    string `json:"run"`
	Other  string `json:"other"`
}

// verdicts spells report outcomes as the first version of the endpoint did.
var verdicts = map[report.Outcome]string{
	report.OutcomeWorse:    "regressed",
	report.OutcomeBetter:   "improved",
	report.OutcomeNoChange: "unchanged",
}

// rateMetrics are the metrics whose first-version name says ".rate".
var rateMetrics = map[string]bool{"http_req_failed": true, "http_reqs": true, "iterations": true, "checks": true}

// compareRuns compares run (current) with other (base).
func compareRuns(run, other store.Run) CompareResponse {
	c := report.Compare(report.Run{Result: *other.Result, Findings: findingsOf(other)},
		report.Run{Result: *run.Result, Findings: findingsOf(run)}, report.CompareOptions{})
	out := CompareResponse{Run: run.ID, Other: other.ID, Comparison: c, Metrics: []CompareMetric{}}
	for _, m := range c.Metrics {
		if len(m.Tags) > 0 || m.Outcome == report.OutcomeNoData {
			continue
		}
		name := m.Metric
		if rateMetrics[name] {
			name += ".rate"
		}
		out.Metrics = append(out.Metrics, CompareMetric{Name: name, Run: *m.Current, Other: *m.Base, Change: m.Change,
			HigherIsWorse: !m.HigherIsBetter, Verdict: verdicts[m.Outcome]})
		switch m.Outcome {
		case report.OutcomeWorse:
			out.Regressions++
		case report.OutcomeBetter:
			out.Improvements++
		}
	}
	for _, t := range c.Thresholds {
		if t.Base != "" && t.Changed() {
			out.Thresholds = append(out.Thresholds, CompareThreshold{Metric: t.Metric, Expr: t.Threshold, Run: t.Current, Other: t.Base})
		}
	}
	return out
}

// findingsOf returns a run's findings, nil when it was not analysed.
func findingsOf(r store.Run) []anomaly.Finding {
	if r.Report == nil {
		return nil
	}
	return r.Report.Findings
}

func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	id, otherID := r.PathValue("id"), r.PathValue("other")
	run, err := s.st.Run(ctx, p.tenant.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var other store.Run
	if otherID == "baseline" {
		other, err = s.st.Baseline(ctx, p.tenant.ID, id)
	} else {
		other, err = s.st.Run(ctx, p.tenant.ID, otherID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, x := range []store.Run{run, other} {
		if x.Result == nil {
			s.writeError(w, r, fmt.Errorf("run %s is %s: %w", x.ID, x.State, errNoResult))
			return
		}
	}
	c := compareRuns(run, other)
	c.Baseline = otherID == "baseline"
	writeJSON(w, http.StatusOK, c)
}
