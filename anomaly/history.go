package anomaly

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// runMetric is a metric compared across runs: how to read a run's value
// and per-second series, and which direction is worse.
type runMetric struct {
	name      string // as in findings
	series    string // the per-second series
	label     string
	value     func(loadtest.Result) (float64, bool)
	higherBad bool
	absFloor  float64 // smallest absolute change that counts
}

func summaryValue(metric, key string) func(loadtest.Result) (float64, bool) {
	return func(r loadtest.Result) (float64, bool) {
		m, ok := r.Metrics[metric]
		if !ok {
			return 0, false
		}
		v, ok := m.Values[key]
		return v, ok && !math.IsNaN(v)
	}
}

var runMetrics = []runMetric{
	{name: "http_req_duration.p95", series: loadtest.SeriesLatencyP95, label: "p95 latency", value: summaryValue("http_req_duration", "p(95)"), higherBad: true},
	{name: "http_req_duration.avg", series: loadtest.SeriesLatencyAvg, label: "average latency", value: summaryValue("http_req_duration", "avg"), higherBad: true},
	{name: "http_req_failed", series: loadtest.SeriesFailedRate, label: "failure rate", value: summaryValue("http_req_failed", "rate"), higherBad: true, absFloor: 0.005},
	{name: "http_reqs", series: loadtest.SeriesRequests, label: "throughput", value: summaryValue("http_reqs", "rate"), higherBad: false},
}

// history compares the run with previous runs of the same test: each
// metric against the previous runs' values (a t prediction interval with
// three runs or more, else Welch's t-test on 10-second means of the
// previous run's series), beyond the noise floor; and Otava-style change
// points over the history of each metric, reported when they fall among
// the latest HistoryRecent runs.
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
		cur, ok := m.value(a.r)
		if !ok {
			continue
		}
		var vals []float64
		for _, h := range prev {
			if v, ok := m.value(h); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		regressed := a.regression(m, cur, vals, prev[len(prev)-1])
		all := append(slices.Clone(vals), cur)
		for _, cp := range ChangePoints(all, a.o.History) {
			ago := len(all) - 1 - cp.Index
			if ago >= a.o.HistoryRecent || (ago == 0 && regressed) {
				continue
			}
			change := cp.Change()
			if (change > 0) != m.higherBad || change == 0 {
				continue
			}
			sev := SeverityMedium
			if math.Abs(change) >= 0.25 {
				sev = SeverityHigh
			}
			a.add(Finding{Kind: KindHistoryChangePoint, Severity: sev, Target: BlameTarget, Metric: m.name, Method: "e-divisive+t-test",
				Evidence: map[string]float64{"baseline": cp.MeanBefore, "observed": cp.MeanAfter, "change": change, "p_value": cp.PValue,
					"runs_ago": float64(ago), "runs": float64(len(all))},
				Message: fmt.Sprintf("The %s of this test changed by %s (%.4g → %.4g) %s, over %d runs (p=%.1e).",
					m.label, pct(change), cp.MeanBefore, cp.MeanAfter, runsAgo(ago), len(all), cp.PValue)}, -1, -1)
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

// regression reports whether cur is significantly worse than the history
// values vals (and records the finding).
func (a *analysis) regression(m runMetric, cur float64, vals []float64, last loadtest.Result) bool {
	var base, p float64
	method := ""
	if len(vals) >= 3 {
		mu, v := meanVar(vals)
		nf := float64(len(vals))
		s := math.Sqrt(v * nf / (nf - 1))
		base, method = mu, "t-prediction"
		switch {
		case s > 0:
			p = tTwoSided((cur-mu)/(s*math.Sqrt(1+1/nf)), nf-1)
		case cur == mu:
			p = 1
		}
	} else {
		prevBlocks := a.blocksOf(last, m.series)
		curBlocks := a.blocksOf(a.r, m.series)
		if len(prevBlocks) < 3 || len(curBlocks) < 3 {
			return false
		}
		base, method = vals[len(vals)-1], "welch"
		p, _ = welchT(prevBlocks, curBlocks)
	}
	diff := cur - base
	if (diff > 0) != m.higherBad || diff == 0 || math.Abs(diff) < m.absFloor || p > a.o.RegressionPValue {
		return false
	}
	change := math.Inf(1)
	if base != 0 {
		change = diff / base
	}
	if math.Abs(change) < a.o.NoiseFloor {
		return false
	}
	sev := SeverityMedium
	if math.Abs(change) >= 0.25 {
		sev = SeverityHigh
	}
	a.add(Finding{Kind: KindRegression, Severity: sev, Target: BlameTarget, Metric: m.name, Method: method,
		Evidence: map[string]float64{"baseline": base, "observed": cur, "change": change, "p_value": p,
			"noise_floor": a.o.NoiseFloor, "runs": float64(len(vals))},
		Message: fmt.Sprintf("The %s regressed by %s against previous runs (%.4g → %.4g, p=%.1e).",
			m.label, pctOrInf(change), base, cur, p)}, -1, -1)
	return true
}

func pctOrInf(x float64) string {
	if math.IsInf(x, 0) {
		return "from zero"
	}
	return pct(x)
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
	return blockMeans(finite(s.Values), max(1, int(10*time.Second/step)))
}
