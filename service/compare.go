package service

import (
	"fmt"
	"math"
	"net/http"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/store"
)

// noiseFloor is the smallest relative change Compare calls a regression
// or an improvement.
const noiseFloor = 0.05

// Comparison is the body of GET /load-test/{id}/compare/{other}: the key
// metrics of a run against another run of the tenant, or its baseline.
type Comparison struct {
	Run   string `json:"run"`
	Other string `json:"other"`
	// Baseline is set when Other is the run's baseline.
	Baseline bool          `json:"baseline"`
	Metrics  []MetricDelta `json:"metrics"`
	// Regressions and Improvements count metrics that changed by more than
	// 5 % for the worse or the better.
	Regressions  int `json:"regressions"`
	Improvements int `json:"improvements"`
	// Thresholds lists thresholds whose verdict differs between the runs.
	Thresholds []ThresholdDelta `json:"thresholds,omitempty"`
}

// MetricDelta is one metric in both runs. Change is (run - other) / other;
// it is omitted when other is 0.
type MetricDelta struct {
	Name   string   `json:"name"`
	Run    float64  `json:"run"`
	Other  float64  `json:"other"`
	Change *float64 `json:"change,omitempty"`
	// HigherIsWorse says which direction is a regression.
	HigherIsWorse bool `json:"higher_is_worse"`
	// Verdict is "regressed", "improved" or "unchanged" (within 5 %).
	Verdict string `json:"verdict"`
}

// ThresholdDelta is a threshold whose verdict changed.
type ThresholdDelta struct {
	Metric string `json:"metric"`
	Expr   string `json:"threshold"`
	Run    string `json:"run"`
	Other  string `json:"other"`
}

type comparedMetric struct {
	name, metric, key string
	higherIsWorse     bool
}

var comparedMetrics = []comparedMetric{
	{"http_req_duration.p95", metrics.HTTPReqDuration, "p(95)", true},
	{"http_req_duration.p99", metrics.HTTPReqDuration, "p(99)", true},
	{"http_req_duration.avg", metrics.HTTPReqDuration, "avg", true},
	{"http_req_failed.rate", metrics.HTTPReqFailed, "rate", true},
	{"http_reqs.rate", metrics.HTTPReqs, "rate", false},
	{"iterations.rate", metrics.Iterations, "rate", false},
	{"checks.rate", metrics.Checks, "rate", false},
}

// compare compares two results' key metrics.
func compare(a, b loadtest.Result) Comparison {
	c := Comparison{Metrics: []MetricDelta{}}
	for _, m := range comparedMetrics {
		av, aok := a.Metrics[m.metric].Values[m.key]
		bv, bok := b.Metrics[m.metric].Values[m.key]
		if !aok || !bok || math.IsNaN(av+bv) || math.IsInf(av+bv, 0) {
			continue
		}
		d := MetricDelta{Name: m.name, Run: av, Other: bv, HigherIsWorse: m.higherIsWorse, Verdict: "unchanged"}
		diff := av - bv
		if bv != 0 {
			ch := diff / math.Abs(bv)
			d.Change = &ch
		}
		significant := math.Abs(diff) > noiseFloor*math.Abs(bv)
		if m.metric == metrics.HTTPReqFailed || m.metric == metrics.Checks {
			significant = math.Abs(diff) > 0.005 // rates near 0: an absolute floor
		}
		if significant {
			if (diff > 0) == m.higherIsWorse {
				d.Verdict = "regressed"
				c.Regressions++
			} else {
				d.Verdict = "improved"
				c.Improvements++
			}
		}
		c.Metrics = append(c.Metrics, d)
	}
	other := map[string]string{}
	for _, v := range b.Thresholds {
		other[v.Metric+"\x00"+v.Threshold.Source] = fmt.Sprint(v.Status)
	}
	for _, v := range a.Thresholds {
		if o, ok := other[v.Metric+"\x00"+v.Threshold.Source]; ok && o != fmt.Sprint(v.Status) {
			c.Thresholds = append(c.Thresholds, ThresholdDelta{Metric: v.Metric, Expr: v.Threshold.Source, Run: fmt.Sprint(v.Status), Other: o})
		}
	}
	return c
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
	c := compare(*run.Result, *other.Result)
	c.Run, c.Other, c.Baseline = run.ID, other.ID, otherID == "baseline"
	writeJSON(w, http.StatusOK, c)
}
