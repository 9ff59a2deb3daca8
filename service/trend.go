package service

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/store"
)

// TrendResponse is the body of GET /tests/{name}/trend: a metric over the
// test's completed runs, oldest first, and the points where its level
// shifts (anomaly.ChangePoints with report.TrendChangePoints).
type TrendResponse struct {
	Test string `json:"test"`
	// TestType is the test type asked for; "" for runs of every type.
	TestType string `json:"test_type,omitempty"`
	Metric   string `json:"metric"`
	Stat     string `json:"stat"`
	// Unit is "ms", "ratio", "1/s", "bytes", "count" or "".
	Unit         string        `json:"unit,omitempty"`
	Points       []TrendPoint  `json:"points"`
	ChangePoints []TrendChange `json:"change_points"`
}

// TrendPoint is one run of a trend.
type TrendPoint struct {
	Run     string    `json:"run"`
	Started time.Time `json:"started"`
	// Schedule is the schedule that started the run, if one did.
	Schedule string `json:"schedule_id,omitempty"`
	// Value is null when the run has no such value.
	Value *float64 `json:"value"`
}

// TrendChange is a change point of a trend: Index is the point of the
// first run of the new level, Run its ID, Change the relative change of
// the level (mean_after / mean_before − 1).
type TrendChange struct {
	Run string `json:"run"`
	anomaly.ChangePoint
	Change float64 `json:"change"`
}

// defaultStat is the value a trend shows of a metric of type t without a
// stat: what its budgets and reports look at first.
func defaultStat(t metrics.MetricType) metrics.Aggregation {
	switch t {
	case metrics.Trend:
		return metrics.Percentile(95)
	case metrics.Gauge:
		return metrics.Aggregation{Name: "value"}
	}
	return metrics.Aggregation{Name: "rate"}
}

// trendQuery reads GET /tests/{name}/trend's query, every problem at once.
func trendQuery(q map[string][]string) (metric, testType string, stat *metrics.Aggregation, limit int, err error) {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q[k][0]
		switch k {
		case "metric":
			metric = v
		case "test_type":
			testType = v
		case "stat":
			a, perr := metrics.ParseAggregation(v)
			if perr != nil {
				bad = append(bad, fmt.Sprintf("stat: want an aggregation as thresholds spell it (avg, p(95), rate, count, value…), got %q", v))
			} else {
				stat = &a
			}
		case "limit":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > store.MaxLimit {
				bad = append(bad, fmt.Sprintf("limit: want 1 … %d, got %q", store.MaxLimit, v))
			}
			limit = n
		default:
			bad = append(bad, fmt.Sprintf("%s: unknown parameter; want metric, stat, test_type or limit", k))
		}
	}
	if metric == "" {
		bad = append(bad, "metric: required, a metric name such as http_req_duration")
	}
	if len(bad) > 0 {
		return "", "", nil, 0, invalid(bad...)
	}
	return metric, testType, stat, limit, nil
}

func (s *Server) handleTrend(w http.ResponseWriter, r *http.Request, p principal) {
	test := r.PathValue("name")
	metric, testType, stat, limit, err := trendQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if limit == 0 {
		limit = store.DefaultLimit
	}
	runs, err := s.st.HistoryRuns(r.Context(), p.tenant.ID, test, testType, "", limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	results := make([]loadtest.Result, len(runs))
	for i, run := range runs {
		results[i] = *run.Result
		if m, ok := run.Result.Metrics[metric]; ok && stat == nil {
			a := defaultStat(m.Type)
			stat = &a
		}
	}
	if stat == nil { // no run has the metric: any stat shows that
		stat = &metrics.Aggregation{Name: "rate"}
	}
	tr := report.NewTrend(results, metric, *stat)
	out := TrendResponse{Test: test, TestType: testType, Metric: metric, Stat: tr.Stat, Unit: tr.Unit,
		Points: make([]TrendPoint, len(runs)), ChangePoints: make([]TrendChange, len(tr.ChangePoints))}
	for i, run := range runs {
		out.Points[i] = TrendPoint{Run: run.ID, Started: run.Started, Schedule: run.Schedule, Value: tr.Values[i]}
	}
	for i, cp := range tr.ChangePoints {
		out.ChangePoints[i] = TrendChange{Run: runs[cp.Index].ID, ChangePoint: cp, Change: cp.Change()}
	}
	writeJSON(w, http.StatusOK, out)
}

// reportHistory is the history section of run's HTML report: the last
// HistorySize completed runs of the same test before it.
func (s *Server) reportHistory(ctx context.Context, run store.Run) ([]report.HistoryRun, error) {
	runs, err := s.st.HistoryRuns(ctx, run.Tenant, run.Name, run.TestType, run.ID, s.cfg.HistorySize)
	if err != nil {
		return nil, err
	}
	out := make([]report.HistoryRun, len(runs))
	for i, h := range runs {
		out[i] = report.HistoryRun{ID: h.ID, Result: *h.Result}
	}
	return out, nil
}
