package anomaly

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Drifts over the whole run: latency that keeps rising at a steady load,
// its onset from a segmented fit (flat, then linear, in ms: drifts are
// usually linear in time), told apart from a step by its shape — the
// hinge must fit better than any single step.

// minDriftRise is the smallest rise, relative to the level before it, a
// whole-run drift must reach by the run's end.
const minDriftRise = 0.5

// grossDrift looks for drifts per endpoint first, then overall.
func (a *analysis) grossDrift() {
	overall, endpoints := a.latencyChannels()
	if len(overall) == 0 {
		return
	}
	var found []driftFit
	if len(endpoints) > 1 {
		for i := range endpoints {
			if d, ok := a.fitDrift(&endpoints[i]); ok {
				d.onset = a.commonModeOnset(endpoints, i, d)
				found = append(found, d)
			}
		}
		if len(found) == len(endpoints) {
			found = nil // every endpoint: an overall drift
		}
	}
	if len(found) == 0 {
		for i := range overall {
			if d, ok := a.fitDrift(&overall[i]); ok {
				found = append(found, d)
				break
			}
		}
	}
	for _, d := range found {
		a.reportDrift(d)
	}
}

// driftFit is a drift found on a channel.
type driftFit struct {
	ch          *channel
	onset, end  int     // timeline points
	level       float64 // ms before the onset
	slope       float64 // ms per point after it
	top, pValue float64
}

// fitDrift fits flat-then-linear to the channel's despiked values and
// judges it.
func (a *analysis) fitDrift(ch *channel) (driftFit, bool) {
	var idx []int
	var lx []float64
	for i, v := range ch.x {
		if v > 0 && !math.IsInf(v, 0) && i > 0 { // the first second warms up
			idx, lx = append(idx, i), append(lx, math.Log(v))
		}
	}
	n := len(lx)
	if n < 15 {
		return driftFit{}, false
	}
	// Long runs: fit on block medians (a hinge over 120 blocks finds the
	// onset within a block; enough for a trend of minutes), which spikes
	// do not move; short ones on the despiked points.
	bs := max(1, n/120)
	if bs == 1 {
		despike(lx, 3)
	}
	y := make([]float64, n)
	for i, v := range lx {
		y[i] = math.Exp(v)
	}
	by := y
	if bs > 1 {
		by = blockMedians(y, bs)
	}
	m := len(by)
	pre := newPrefix(by)
	minFlat := max(3, 3/bs)
	t0, sseHinge, slope := pre.bestHinge(0, m, minFlat)
	if t0 < 0 || slope <= 0 || m-t0 < max(5, 5/bs) {
		return driftFit{}, false
	}
	_, sseStep := pre.bestStep(0, m, 2)
	sseFlat := pre.sse(0, m)
	level := pre.meanOf(0, max(t0, 1))
	top := level + slope*float64(m-1-t0)
	if !(sseHinge < sseStep) || top < (1+minDriftRise)*level {
		return driftFit{}, false
	}
	// The hinge explains the series far better than a flat line: an F-test
	// of its two extra parameters.
	df := float64(m - 3)
	if sseHinge <= 0 || df < 1 {
		return driftFit{}, false
	}
	fisher := distuv.F{D1: 2, D2: df}
	if fisher.Survival((sseFlat-sseHinge)/2/(sseHinge/df)) > a.o.PValue {
		return driftFit{}, false
	}
	// Rising all along after the onset, not a bump.
	_, z, p := mannKendall(by[t0:])
	if z <= 0 || p > a.o.PValue && m-t0 >= 10 || p > 0.01 {
		return driftFit{}, false
	}
	onset, end := idx[min(n-1, t0*bs)], idx[n-1]+1
	// The run's ramp-down is not part of it.
	if load := a.loadLevels(); load != nil {
		ref := a.medianLoad(onset, end)
		for end > onset+1 && !(load[end-1] >= 0.9*ref) {
			end--
		}
	}
	// A rise whose onset another finding explains is that finding's; a step
	// in its first half means it rose by a step, not a drift.
	if end-onset < 5 || a.claimed("latency", onset-screenWindow, onset+max(screenWindow, (end-onset)/2)) || a.claimed("stall", onset, end) {
		return driftFit{}, false
	}
	// Still rising at a steady load: latency that rises with the load is
	// the knee's. The last stretch of steady load must hold six points or
	// more and rise on its own.
	if load := a.loadLevels(); load != nil {
		from, final := end-1, load[end-1]
		for from > onset && math.Abs(load[from-1]-final) <= max(0.5, 0.02*final) {
			from--
		}
		if math.Abs(load[from]-final) > 0.5 {
			return driftFit{}, false // a slow ramp, not a steady load
		}
		var flat []float64
		for i := from; i < end; i++ {
			if v := ch.x[i]; v > 0 {
				flat = append(flat, v)
			}
		}
		if _, z, p := mannKendall(flat); len(flat) < 6 || z <= 0 || p > 0.05 {
			return driftFit{}, false
		}
	}
	return driftFit{ch: ch, onset: onset, end: end, level: level, slope: slope / float64(bs), top: top, pValue: p}, true
}

// commonModeOnset returns the onset of endpoint e's drift d fitted on its
// p95 less the median p95 of the other endpoints: what the whole run
// shares (a busy host, a ramp's extra connections) cancels, and what is
// the endpoint's own remains. It keeps d's onset when the difference
// does not rise after a flat start.
func (a *analysis) commonModeOnset(endpoints []channel, e int, d driftFit) int {
	var idx []int
	var diff []float64
	others := make([]float64, 0, len(endpoints)-1)
	for i := 1; i < d.end; i++ {
		others = others[:0]
		for k, ch := range endpoints {
			if k != e && ch.x[i] > 0 && !math.IsInf(ch.x[i], 0) {
				others = append(others, ch.x[i])
			}
		}
		if v := endpoints[e].x[i]; len(others) > 0 && v > 0 && !math.IsInf(v, 0) {
			idx, diff = append(idx, i), append(diff, v-median(others))
		}
	}
	if len(diff) < 15 {
		return d.onset
	}
	despike(diff, 3)
	pre := newPrefix(diff)
	t0, _, slope := pre.bestHinge(0, len(diff), 3)
	if t0 < 0 || slope <= 0 || len(diff)-t0 < 5 {
		return d.onset
	}
	return idx[t0]
}

func (a *analysis) reportDrift(d driftFit) {
	var where string
	if d.ch.tags != nil {
		where = " of " + d.ch.tags["name"]
	}
	what := d.ch.what()
	perSec := d.slope / a.step.Seconds()
	change := d.top/d.level - 1
	load := a.medianLoad(d.onset, d.end)
	ev := map[string]float64{"baseline_ms": d.level, "observed_ms": d.top, "change": change,
		"slope_ms_per_s": perSec, "p_value": d.pValue, "load": load}
	loadText := ""
	if !math.IsNaN(load) {
		unit := "VUs"
		if a.arrivalRate() {
			unit = "iterations/s"
		}
		loadText = fmt.Sprintf(", while the load stayed at %g %s", load, unit)
	}
	a.claims = append(a.claims, claim{a: d.onset, b: d.end, family: "latency"})
	a.add(Finding{Kind: KindLatencyDrift, Severity: latencySeverity(change), Target: BlameTarget, Metric: d.ch.metric,
		Tags: d.ch.tags, Method: "hinge+mann-kendall", Evidence: ev,
		Message: fmt.Sprintf("The %s%s kept rising from %s, by %s per second: %s → %s by %s (%s)%s.",
			what, where, fmtSec(a.at(d.onset)), fmtMs(perSec), fmtMs(d.level), fmtMs(d.top), fmtSec(a.at(d.end)),
			pctSigned(change), loadText)}, d.onset, d.end)
}

// pctSigned formats a relative change with its sign: "+260 %".
func pctSigned(x float64) string {
	if x >= 0 {
		return "+" + pct(x)
	}
	return pct(x)
}
