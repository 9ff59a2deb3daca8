package anomaly

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
)

// runMetric is a metric compared across runs: how to read a run's value
// and per-second series, and which direction is worse.
type runMetric struct {
	name      string // as in findings
	series    string // the per-second series
	label     string
	metric    string // the summary metric and aggregation of its value
	agg       string
	higherBad bool
	absFloor  float64 // smallest absolute change that counts
	// resolution is the metric's relative resolution: latency percentiles
	// come from sketches with 0.5 % relative error, so values closer than
	// that are the same value, and no spread between runs is smaller.
	resolution float64
}

// sketchError is the relative error of the trend sketches latency
// percentiles come from (metrics.Trend).
const sketchError = 0.005

var runMetrics = []runMetric{
	{name: "http_req_duration.p95", series: loadtest.SeriesLatencyP95, label: "p95 latency", metric: "http_req_duration", agg: "p(95)", higherBad: true, resolution: sketchError},
	{name: "http_req_duration.avg", series: loadtest.SeriesLatencyAvg, label: "average latency", metric: "http_req_duration", agg: "avg", higherBad: true, resolution: sketchError},
	{name: "http_req_failed", series: loadtest.SeriesFailedRate, label: "failure rate", metric: "http_req_failed", agg: "rate", higherBad: true, absFloor: 0.005},
	{name: "http_reqs", series: loadtest.SeriesRequests, label: "throughput", metric: "http_reqs", agg: "rate", higherBad: false},
}

// history compares the run with previous runs of the same test: each
// metric against the previous runs' values (a t prediction interval with
// three runs or more, its spread floored by the metric's resolution and
// half the noise floor, else Welch's t-test on 10-second means of the
// previous run's series), beyond the noise floor; and Otava-style change
// points over the history of each metric, reported when they fall among
// the latest HistoryRecent runs before this one (this run alone is the
// regression test's), are significant between their final segments and
// move by the noise floor or more.
func (a *analysis) history(hist []loadtest.Result) {
	var prev []loadtest.Result
	for _, h := range hist {
		if a.r.Name == "" || h.Name == a.r.Name {
			prev = append(prev, h)
		}
	}
	if len(prev) == 0 {
		return
	}
	slices.SortStableFunc(prev, func(x, y loadtest.Result) int { return x.Start.Compare(y.Start) })
	for _, m := range runMetrics {
		cur, ok := a.r.Metric(m.metric).Value(m.agg)
		if !ok {
			continue
		}
		var vals []float64
		for _, h := range prev {
			if v, ok := h.Metric(m.metric).Value(m.agg); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		a.regression(m, cur, vals, prev[len(prev)-1])
		all := append(slices.Clone(vals), cur)
		for _, cp := range ChangePoints(all, a.o.History) {
			ago := len(all) - 1 - cp.Index
			// The latest run alone is the regression test's to judge, with
			// its floor on the spread of runs.
			if ago >= a.o.HistoryRecent || ago == 0 || cp.PValue > a.o.History.MaxPValue {
				continue
			}
			change := cp.Change()
			if (change > 0) != m.higherBad || math.Abs(change) < max(a.o.NoiseFloor, 2*m.resolution) ||
				math.Abs(cp.MeanAfter-cp.MeanBefore) < m.absFloor {
				continue
			}
			sev := SeverityMedium
			if math.Abs(change) >= 0.25 {
				sev = SeverityHigh
			}
			a.add(Finding{Kind: KindHistoryChangePoint, Severity: sev, Target: BlameTarget, Metric: m.name, Method: "e-divisive+t-test",
				Evidence: map[string]float64{"baseline": cp.MeanBefore, "observed": cp.MeanAfter, "change": change, "p_value": cp.PValue,
					"runs_ago": float64(ago), "runs": float64(len(all))},
				Message: fmt.Sprintf("The %s of this test %s %s (%s → %s) %s, over %d runs (p=%.1e).",
					m.label, moved(change), pct(math.Abs(change)), m.format(cp.MeanBefore), m.format(cp.MeanAfter), runsAgo(ago), len(all), cp.PValue)}, -1, -1)
		}
	}
}

func runsAgo(n int) string {
	switch n {
	case 0:
		return "with this run"
	case 1:
		return "one run ago"
	}
	return fmt.Sprintf("%d runs ago", n)
}

// regression records a finding when cur is significantly worse than the
// history values vals.
func (a *analysis) regression(m runMetric, cur float64, vals []float64, last loadtest.Result) {
	var base, p float64
	method := ""
	if len(vals) >= 3 {
		mu, v := stats.MeanVar(vals)
		nf := float64(len(vals))
		// Runs never agree more closely than the metric's resolution, nor
		// than runs of a test on a shared machine do (half the noise
		// floor): a few identical-looking runs would otherwise make any
		// move "significant".
		s := max(math.Sqrt(v*nf/(nf-1)), max(m.resolution, a.o.NoiseFloor/2)*math.Abs(mu))
		base, method = mu, "t-prediction"
		switch {
		case s > 0:
			p = stats.TwoSidedT((cur-mu)/(s*math.Sqrt(1+1/nf)), nf-1)
		case cur == mu:
			p = 1
		}
	} else {
		prevBlocks := a.blocksOf(last, m.series)
		curBlocks := a.blocksOf(a.r, m.series)
		if len(prevBlocks) < 3 || len(curBlocks) < 3 {
			return
		}
		base, method = vals[len(vals)-1], "welch"
		p, _ = stats.Welch(prevBlocks, curBlocks)
	}
	diff := cur - base
	if (diff > 0) != m.higherBad || diff == 0 || math.Abs(diff) < m.absFloor || p > a.o.RegressionPValue {
		return
	}
	change := math.Inf(1)
	if base != 0 {
		change = diff / base
	}
	if math.Abs(change) < max(a.o.NoiseFloor, 2*m.resolution) {
		return
	}
	sev := SeverityMedium
	if math.Abs(change) >= 0.25 {
		sev = SeverityHigh
	}
	a.add(Finding{Kind: KindRegression, Severity: sev, Target: BlameTarget, Metric: m.name, Method: method,
		Evidence: map[string]float64{"baseline": base, "observed": cur, "change": change, "p_value": p,
			"noise_floor": a.o.NoiseFloor, "runs": float64(len(vals))},
		Message: fmt.Sprintf("The %s %s %s against previous runs (%s → %s, p=%.1e).",
			m.label, moved(change), pctOrInf(math.Abs(change)), m.format(base), m.format(cur), p)}, -1, -1)

}

// moved says which way a metric went: "rose" or "fell".
func moved(change float64) string {
	if change < 0 {
		return "fell"
	}
	return "rose"
}

func pctOrInf(x float64) string {
	if math.IsInf(x, 0) {
		return "from zero"
	}
	return pct(x)
}

// format spells a value of the metric with its unit.
func (m runMetric) format(v float64) string {
	switch m.series {
	case loadtest.SeriesLatencyP95, loadtest.SeriesLatencyAvg:
		return fmtMs(v)
	case loadtest.SeriesFailedRate:
		return pct(v)
	case loadtest.SeriesRequests:
		return fmt.Sprintf("%.4g req/s", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// blocksOf returns the 10-second means of a run's series over its whole
// timeline (NaN seconds skipped).
func (a *analysis) blocksOf(r loadtest.Result, name string) []float64 {
	s := r.Timeline.Find(name, nil)
	if s == nil {
		return nil
	}
	step := r.Timeline.Step
	if step <= 0 {
		step = time.Second
	}
	return stats.BlockMeans(finite(s.Values), max(1, int(10*time.Second/step)))
}
