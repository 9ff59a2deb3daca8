package anomaly

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
)

// Latency inside and between periods of steady load. Planned ramps are
// never looked at: latency that grows with load is expected.

// latencyIndex returns, for the points of [a, b) where p95 is positive and
// finite, the mean of log p50, log p90 and log p95 (those present): a
// latency level less noisy than p95 alone, which moves with p95 when the
// whole distribution scales. It also returns log p95 and the points'
// timeline indexes.
func latencyIndex(qs [][]float64, a, b int) (idx []int, x, p95 []float64) {
	for i := a; i < b; i++ {
		v := qs[len(qs)-1][i]
		if !(v > 0) || math.IsInf(v, 0) {
			continue
		}
		var s float64
		var n int
		for _, q := range qs {
			if w := q[i]; w > 0 && !math.IsInf(w, 0) {
				s += math.Log(w)
				n++
			}
		}
		idx, x, p95 = append(idx, i), append(x, s/float64(n)), append(p95, math.Log(v))
	}
	return idx, x, p95
}

// winsorize clips xs to its median ± k robust standard deviations, so
// that isolated spikes (a GC pause, one slow second) do not pass for
// shifts.
func winsorize(xs []float64, k float64) {
	m, s := median(xs), mad(xs)
	if s == 0 || math.IsNaN(s) {
		return
	}
	for i, x := range xs {
		xs[i] = min(max(x, m-k*s), m+k*s)
	}
}

// despike replaces isolated spikes of xs (a GC pause, one slow second) by
// the median of their window: a Hampel filter with a window of 3 points
// a side, flagging points more than k robust standard deviations
// (from the MAD of first differences) from that median. A step is kept: on
// each side of it, most of the window agrees.
func despike(xs []float64, k float64) {
	if len(xs) < 7 {
		return
	}
	d := make([]float64, len(xs)-1)
	for i := range d {
		d[i] = xs[i+1] - xs[i]
	}
	sd := mad(d) / math.Sqrt2
	if !(sd > 0) {
		return
	}
	orig := slices.Clone(xs)
	for i := range xs {
		if m := median(orig[max(0, i-3):min(len(xs), i+4)]); math.Abs(orig[i]-m) > k*sd {
			xs[i] = m
		}
	}
}

// blockMedians is stats.BlockMeans with medians.
func blockMedians(xs []float64, bs int) []float64 { return stats.Blocks(xs, bs, median) }

// longRunSD estimates the standard deviation that governs sums of xs (the
// long-run deviation, which short-range correlation inflates) robustly to
// steps and trends: the MAD of differences of 10-point block means, scaled
// back to one point.
func longRunSD(xs []float64) float64 {
	const bs = 10
	bm := stats.BlockMeans(xs, bs)
	if len(bm) < 6 {
		d := make([]float64, 0, len(xs))
		for i := 1; i < len(xs); i++ {
			d = append(d, xs[i]-xs[i-1])
		}
		return mad(d) / math.Sqrt2
	}
	d := make([]float64, len(bm)-1)
	for i := range d {
		d[i] = bm[i+1] - bm[i]
	}
	return mad(d) / math.Sqrt2 * math.Sqrt(bs)
}

// step is a shift found in a log series at position tau.
type step struct {
	tau    int
	cusumP float64
}

// findSteps runs binary segmentation on x[lo:hi): a CUSUM of deviations
// from the mean, judged with the Brownian-bridge tail on the long-run
// deviation, splits at the least-squares step when significant and when a
// step explains the segment better than a trend; the split must agree with
// E-divisive's on block means.
func (a *analysis) findSteps(x []float64, lo, hi, minSide int, out *[]step) {
	n := hi - lo
	if n < 2*minSide || len(*out) > 20 {
		return
	}
	seg := x[lo:hi]
	sd := longRunSD(seg)
	if !(sd > 0) {
		return
	}
	m := stats.Mean(seg)
	var s, maxAbs float64
	for _, v := range seg {
		s += v - m
		maxAbs = max(maxAbs, math.Abs(s))
	}
	p := kolmogorovSurvival(maxAbs / (sd * math.Sqrt(float64(n))))
	if p > a.o.PValue {
		return
	}
	pre := newPrefix(seg)
	tau, _ := pre.bestStep(0, n, minSide)
	if tau < 0 || a.rising(seg[tau:]) {
		return // a trend, not a step: left to the drift detector
	}
	bs := max(5, n/40)
	if bm := stats.BlockMeans(seg, bs); len(bm) >= 4 {
		ed, _ := newDistances(bm).candidate(0, len(bm))
		if abs(ed*bs-tau) > max(2*bs, n/20) {
			return
		}
	}
	*out = append(*out, step{tau: lo + tau, cusumP: p})
	a.findSteps(x, lo, lo+tau, minSide, out)
	a.findSteps(x, lo+tau, hi, minSide, out)
}

// trendier reports whether a steady span's latency rises as a trend
// rather than by steps: Mann–Kendall on 15-point block medians is
// significant and a hinge (flat, then linear) fits the medians better than
// a single step does, with a rise of MinDrift or more.
func (a *analysis) trendier(x []float64, short bool) bool {
	bs, minRise := trendBlock(len(x), 8), a.o.MinDrift
	if short {
		// Blocks of 2: a short span has too few points for 15-point blocks.
		bs, minRise = 2, max(minRise, a.o.ShortMinChange)
	}
	bm := blockMedians(x, bs)
	if len(bm) < 8 {
		return false
	}
	if _, z, p := mannKendall(bm); z <= 0 || p > 0.01 {
		return false
	}
	pre := newPrefix(bm)
	_, sseStep := pre.bestStep(0, len(bm), 2)
	t0, sseHinge, slope := pre.bestHinge(0, len(bm), 2)
	// A rise smaller than a drift worth reporting is judged as steps.
	return slope > 0 && sseHinge < sseStep && math.Exp(slope*float64(len(bm)-t0))-1 >= minRise
}

// rising reports whether xs (log latency after a candidate step) keeps
// rising: Mann–Kendall on 15-point block medians at p ≤ 0.01, by at least
// half of MinDrift according to Sen's slope. A step is flat after itself;
// a drift is not.
func (a *analysis) rising(xs []float64) bool {
	bs := trendBlock(len(xs), 6)
	bm := blockMedians(xs, bs)
	if len(bm) < 6 {
		return false
	}
	_, z, p := mannKendall(bm)
	if z <= 0 || p > 0.01 {
		return false
	}
	t := make([]float64, len(bm))
	for i := range t {
		t[i] = float64(i * bs)
	}
	return math.Exp(senSlope(t, bm)*float64(len(xs)))-1 >= a.o.MinDrift/2
}

// trendBlock returns the block size of the trend checks for n points: 15,
// or in a short span as much as gives it minBlocks blocks (at least 2).
func trendBlock(n, minBlocks int) int {
	if n >= 15*minBlocks {
		return 15
	}
	return max(2, n/minBlocks)
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// spanLevel is a steady span's latency at its start and end (log ms),
// with the block means there, for comparisons between spans.
type spanLevel struct {
	s                       span
	first, last             float64
	first95, last95         float64
	firstBlocks, lastBlocks []float64
	firstIdx, lastIdx       []int
}

func (a *analysis) latency() {
	var qs [][]float64
	for _, name := range []string{loadtest.SeriesLatencyP50, loadtest.SeriesLatencyP90, loadtest.SeriesLatencyP95} {
		if s := a.series(name); s != nil {
			qs = append(qs, s)
		}
	}
	if a.r.Timeline.Find(loadtest.SeriesLatencyP95, nil) == nil {
		return
	}
	const metric = loadtest.SeriesLatencyP95
	var levels []spanLevel
	for _, sp := range a.steady {
		short := a.short(sp)
		// A short steady period is judged from its first full second: its
		// settling time is a fifth of it, where a rise would hide.
		from := sp.a
		if short {
			from = min(sp.a, sp.from)
		}
		idx, x, l95 := latencyIndex(qs, from, sp.b)
		// Each side of a step keeps a quarter of a full steady period, or
		// 5 points of a short one.
		minSide := max(5, min(max(10, a.points(a.o.MinSteady)/4), len(x)/4))
		if short {
			minSide = 5
		}
		if len(x) < 2*minSide {
			continue
		}
		minShift := a.o.MinShift
		if short {
			minShift = max(minShift, a.o.ShortMinChange)
		}
		// Spikes out: over a full steady period, clipped to 5 robust
		// deviations of the period; in a short one, whose MAD a step can
		// shrink to nothing (most points on one side, little noise), by a
		// Hampel filter that keeps steps.
		if short {
			despike(x, 3)
		} else {
			winsorize(x, 5)
		}
		var steps []step
		if !a.trendier(x, short) {
			a.findSteps(x, 0, len(x), minSide, &steps)
		}
		slices.SortFunc(steps, func(p, q step) int { return p.tau - q.tau })
		bounds := []int{0}
		for _, st := range steps {
			bounds = append(bounds, st.tau)
		}
		bounds = append(bounds, len(x))
		bs := max(5, len(x)/40)
		for j, st := range steps {
			left, right := x[bounds[j]:st.tau], x[st.tau:bounds[j+2]]
			change := math.Exp(median(right)-median(left)) - 1
			before, after := median(l95[bounds[j]:st.tau]), median(l95[st.tau:bounds[j+2]])
			// Welch's test on block means: three blocks a side or more, five
			// in a short span (its sides are a dozen points).
			nb := 3
			if short {
				nb = 5
			}
			pt, _ := stats.Welch(stats.BlockMeans(left, min(bs, max(1, len(left)/nb))), stats.BlockMeans(right, min(bs, max(1, len(right)/nb))))
			if change < minShift || pt > a.o.PValue {
				continue
			}
			// A small rise that does not last a steady period is a blip.
			if change < 0.10 && a.at(idx[bounds[j+2]-1])-a.at(idx[st.tau]) < a.o.MinSteady {
				continue
			}
			end := idx[bounds[j+2]-1] + 1
			if a.claimed("latency", idx[st.tau], end) || a.claimed("stall", idx[st.tau], end) {
				continue
			}
			// The message quotes p95, as its numbers: the index of
			// percentiles only decides.
			p95Change := math.Exp(after-before) - 1
			ev := map[string]float64{"baseline_ms": math.Exp(before), "observed_ms": math.Exp(after), "change": p95Change,
				"index_change": change, "p_value": pt, "cusum_p_value": st.cusumP, "load": sp.load}
			tags, where := a.blameLatency(idx[bounds[j]], idx[st.tau], end, p95Change, ev)
			a.add(Finding{Kind: KindLatencyShift, Severity: latencySeverity(change), Target: BlameTarget, Metric: metric, Tags: tags,
				Method: "cusum+e-divisive", Evidence: ev,
				Message: fmt.Sprintf("The p95 latency stepped up %s (%s → %s) at %s while the load stayed at %g%s.",
					pct(p95Change), fmtMs(math.Exp(before)), fmtMs(math.Exp(after)), fmtSec(a.at(idx[st.tau])), sp.load, where)},
				idx[st.tau], end)
		}
		for j := 0; j+1 < len(bounds); j++ {
			a.drift(x, l95, idx, bounds[j], bounds[j+1], minSide, sp, short)
		}
		first, last := x[:bounds[1]], x[bounds[len(bounds)-2]:]
		levels = append(levels, spanLevel{s: sp, first: median(first), last: median(last),
			first95: median(l95[:bounds[1]]), last95: median(l95[bounds[len(bounds)-2]:]),
			firstBlocks: stats.BlockMeans(first, bs), lastBlocks: stats.BlockMeans(last, bs),
			firstIdx: idx[:bounds[1]], lastIdx: idx[bounds[len(bounds)-2]:]})
	}
	a.degradation(levels)
}

// drift looks for a rising trend in x[lo:hi): Mann–Kendall on block
// medians, Sen's slope for the size, and a hinge fit for its onset. In a
// short span the blocks are smaller (a dozen or more, single points in a
// span of less than 24) and the rise must reach ShortMinChange.
func (a *analysis) drift(x, l95 []float64, idx []int, lo, hi, minSide int, sp span, short bool) {
	n := hi - lo
	minRise, bs := a.o.MinDrift, max(5, n/40)
	if short {
		minRise, bs = max(minRise, a.o.ShortMinChange), max(1, n/12)
	}
	if n < a.points(a.o.ShortSteady) || (!short && n < a.points(a.o.MinSteady)) {
		return
	}
	bm := blockMedians(x[lo:hi], bs)
	if len(bm) < 6 {
		return
	}
	t := make([]float64, len(bm))
	for i := range t {
		t[i] = float64(i*bs) + float64(bs-1)/2
	}
	_, z, p := mannKendall(bm)
	if z <= 0 || p > a.o.PValue {
		return
	}
	slope := senSlope(t, bm)
	if math.Exp(slope*float64(n))-1 < minRise {
		return
	}
	// The onset: a hinge fit on the latency level in ms (a drift is
	// usually linear in time, not in log time).
	lin := make([]float64, n)
	for i := range lin {
		lin[i] = math.Exp(x[lo+i])
	}
	pre := newPrefix(lin)
	t0, _, hs := pre.bestHinge(0, n, min(minSide, n/4))
	if t0 < 0 || hs <= 0 {
		return
	}
	level := pre.meanOf(0, max(t0, 1))
	rise := hs * float64(n-t0) / level
	if rise < minRise {
		return
	}
	perMin := hs * float64(a.points(time.Minute)) / level
	before := median(l95[lo : lo+max(t0, 1)])
	if a.claimed("latency", idx[lo+t0]-screenWindow, idx[lo+t0]+screenWindow) {
		return
	}
	msPerS := hs / a.step.Seconds()
	ev := map[string]float64{"baseline_ms": math.Exp(before), "observed_ms": math.Exp(before) * (1 + rise), "change": rise,
		"p_value": p, "slope_per_min": perMin, "slope_ms_per_s": msPerS, "load": sp.load}
	tags, where := a.blameLatency(idx[lo], idx[lo+t0], idx[hi-1]+1, rise, ev)
	a.add(Finding{Kind: KindLatencyDrift, Severity: latencySeverity(rise), Target: BlameTarget, Metric: loadtest.SeriesLatencyP95,
		Tags: tags, Method: "mann-kendall+sen", Evidence: ev,
		Message: fmt.Sprintf("Latency kept rising from %s, by %s over %s (%s per minute, %s a second), while the load stayed at %g%s.",
			fmtSec(a.at(idx[lo+t0])), pct(rise), fmtDur(a.at(idx[hi-1]+1)-a.at(idx[lo+t0])),
			pct(perMin), fmtMs(msPerS), sp.load, where)},
		idx[lo+t0], idx[hi-1]+1)
}

// blameLatency names the endpoint that alone moved when the overall
// latency changed by change at point at (from [b0, at) to [at, e)): its
// tags, with its change in ev, and the clause the message ends with.
func (a *analysis) blameLatency(b0, at, e int, change float64, ev map[string]float64) (map[string]string, string) {
	tags, moved := a.movedEndpoint(b0, at, e, change)
	if tags == nil {
		return nil, ""
	}
	ev["endpoint_change"] = moved
	return tags, fmt.Sprintf("; it was %s, whose p95 rose %s while the others held", tags["name"], pct(moved))
}

// degradation compares each steady span with the earliest earlier one at
// the same load (or, failing that, the latest earlier one at a higher
// load): latency higher now than then is a degradation.
func (a *analysis) degradation(levels []spanLevel) {
	for j := 1; j < len(levels); j++ {
		cur := levels[j]
		base := -1
		for i := 0; i < j; i++ {
			if levels[i].s.key == cur.s.key {
				base = i
				break
			}
		}
		if base < 0 {
			for i := j - 1; i >= 0; i-- {
				if levels[i].s.load > cur.s.load {
					base = i
					break
				}
			}
		}
		if base < 0 {
			continue
		}
		prev := levels[base]
		change := math.Exp(cur.first-prev.last) - 1
		p, _ := stats.Welch(prev.lastBlocks, cur.firstBlocks)
		minShift := a.o.MinShift
		if a.short(cur.s) || a.short(prev.s) {
			minShift = max(minShift, a.o.ShortMinChange)
		}
		if change < minShift || p > a.o.PValue {
			continue
		}
		if a.claimed("latency", cur.firstIdx[0], cur.firstIdx[len(cur.firstIdx)-1]+1) {
			continue
		}
		note := "the same load"
		if prev.s.key != cur.s.key {
			note = fmt.Sprintf("a lower load (%g, was %g)", cur.s.load, prev.s.load)
		}
		a.add(Finding{Kind: KindLatencyDegradation, Severity: latencySeverity(change), Target: BlameTarget, Metric: loadtest.SeriesLatencyP95,
			Method: "welch",
			Evidence: map[string]float64{"baseline_ms": math.Exp(prev.last95), "observed_ms": math.Exp(cur.first95), "change": change,
				"p_value": p, "load": cur.s.load, "baseline_load": prev.s.load},
			Message: fmt.Sprintf("Latency was %s higher (p95 %s → %s) from %s than in the steady period that ended at %s, at %s.",
				pct(change), fmtMs(math.Exp(prev.last95)), fmtMs(math.Exp(cur.first95)), fmtDur(a.at(cur.firstIdx[0])),
				fmtDur(a.at(prev.lastIdx[len(prev.lastIdx)-1]+1)), note)},
			cur.firstIdx[0], cur.firstIdx[len(cur.firstIdx)-1]+1)
	}
}

// latencySeverity grades a relative latency rise.
func latencySeverity(change float64) Severity {
	switch {
	case change >= 0.5:
		return SeverityHigh
	case change >= 0.15:
		return SeverityMedium
	}
	return SeverityLow
}
