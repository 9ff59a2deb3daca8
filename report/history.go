package report

import (
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// HistoryRun is an earlier run of the reported test, for the report's
// history section (Input.History).
type HistoryRun struct {
	// ID names the run where it is kept ("" when it has no name).
	ID     string
	Result loadtest.Result
}

// TrendChangePoints are the options [NewTrend] finds change points with:
// Otava's defaults, and a level must move by more than 5 % (the noise
// floor of comparisons) to count.
var TrendChangePoints = anomaly.ChangePointOptions{MinMagnitude: 0.05}

// Trend is one aggregation of a metric over a test's runs, oldest first,
// with the points where its level shifts.
type Trend struct {
	// Metric and Stat name the value: "http_req_duration" and "p(95)".
	Metric string `json:"metric"`
	Stat   string `json:"stat"`
	// Unit is "ms", "ratio", "1/s", "bytes" or "" (see formatValue).
	Unit string `json:"unit,omitempty"`
	// Values[i] is run i's value, nil when that run has none.
	Values []*float64 `json:"values"`
	// ChangePoints are anomaly.ChangePoints of the runs that have a value,
	// each Index the first run of the new level (an index into Values).
	ChangePoints []anomaly.ChangePoint `json:"change_points"`
}

// NewTrend returns agg of metric over runs, oldest first, and its change
// points (TrendChangePoints).
func NewTrend(runs []loadtest.Result, metric string, agg metrics.Aggregation) Trend {
	t := Trend{Metric: metric, Stat: agg.String(), Values: make([]*float64, len(runs)), ChangePoints: []anomaly.ChangePoint{}}
	var series []float64
	var runOf []int // series index → run index
	for i, r := range runs {
		m := r.Metric(metric)
		v, ok := m.Value(t.Stat)
		if !ok {
			continue
		}
		if t.Unit == "" {
			t.Unit = unitOf(m, agg)
		}
		t.Values[i] = &v
		series = append(series, v)
		runOf = append(runOf, i)
	}
	for _, cp := range anomaly.ChangePoints(series, TrendChangePoints) {
		cp.Index = runOf[cp.Index]
		t.ChangePoints = append(t.ChangePoints, cp)
	}
	return t
}

// unitOf is the unit of agg of a metric.
func unitOf(m loadtest.MetricSummary, agg metrics.Aggregation) string {
	switch {
	case agg.Name == "rate" && m.Type == metrics.Rate:
		return "ratio"
	case agg.Name == "rate":
		return "1/s"
	case agg.Name == "count":
		return "count"
	case m.Contains == metrics.Time:
		return "ms"
	case m.Contains == metrics.Data:
		return "bytes"
	}
	return ""
}

// historyColumns are the values the history section shows of each run.
var historyColumns = []struct {
	label, metric string
	agg           metrics.Aggregation
}{
	{"p95 duration", "http_req_duration", metrics.Percentile(95)},
	{"failed requests", "http_req_failed", metrics.Aggregation{Name: "rate"}},
	{"throughput", "http_reqs", metrics.Aggregation{Name: "rate"}},
}

// historySection is the report's history: the earlier runs and this one,
// oldest first.
type historySection struct {
	Columns []string
	Rows    []historyRow
}

type historyRow struct {
	ID      string
	Start   time.Time
	Status  loadtest.Status
	Current bool
	Cells   []historyCell
}

type historyCell struct {
	Value string
	// Shift is set on the first run of a new level: "+38.2 %".
	Shift string
}

// newHistorySection returns the section of in, nil without history.
func newHistorySection(in Input) *historySection {
	if len(in.History) == 0 {
		return nil
	}
	runs := make([]loadtest.Result, 0, len(in.History)+1)
	for _, h := range in.History {
		runs = append(runs, h.Result)
	}
	runs = append(runs, in.Result)
	sec := &historySection{Rows: make([]historyRow, len(runs))}
	for i, r := range runs {
		sec.Rows[i] = historyRow{Start: r.Start, Status: r.Status, Current: i == len(runs)-1,
			Cells: make([]historyCell, len(historyColumns))}
		if i < len(in.History) {
			sec.Rows[i].ID = in.History[i].ID
		}
	}
	for c, col := range historyColumns {
		sec.Columns = append(sec.Columns, col.label)
		t := NewTrend(runs, col.metric, col.agg)
		for i, v := range t.Values {
			sec.Rows[i].Cells[c].Value = optValue(v, t.Unit)
		}
		for _, cp := range t.ChangePoints {
			change := cp.Change()
			sec.Rows[cp.Index].Cells[c].Shift = formatChange(&change)
		}
	}
	return sec
}
