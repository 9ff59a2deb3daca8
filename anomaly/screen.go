package anomaly

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
)

// The gross-change screen looks at the whole run, overall and per
// endpoint, before any statistics: a latency that rises several-fold and
// stays up for seconds is a finding wherever it is — in the first
// seconds, the last ones, or a run of 10 s. Steady periods and settling
// times tune the subtle tests that come after it, and never hide what it
// found.

// channel is a per-second latency series the screen reads.
type channel struct {
	metric string            // the series' name
	tags   map[string]string // {"name": endpoint}, or nil overall
	x      []float64         // per point, NaN without data
	reqs   []float64         // requests per point behind x
}

// minChannelRequests is the fewest requests a second's percentile is read
// from: a p95 of three requests is their maximum.
const minChannelRequests = 5

// latencyChannels returns the overall p50 and p95 channels and each
// endpoint's p95 (the name-tagged series), seconds with fewer than
// minChannelRequests requests left out.
func (a *analysis) latencyChannels() (overall, endpoints []channel) {
	reqs := a.series(loadtest.SeriesRequests)
	for _, name := range []string{loadtest.SeriesLatencyP95, loadtest.SeriesLatencyP50} {
		if x := a.series(name); x != nil {
			for j := range x {
				if reqs != nil && !(reqs[j] >= minChannelRequests) {
					x[j] = math.NaN()
				}
			}
			overall = append(overall, channel{metric: name, x: x, reqs: reqs})
		}
	}
	for i := range a.r.Timeline.Series {
		s := &a.r.Timeline.Series[i]
		name, ok := s.Tags["name"]
		if s.Name != loadtest.SeriesLatencyP95 || !ok || len(s.Tags) != 1 {
			continue
		}
		x := a.pad(s)
		er := a.pad(a.r.Timeline.Find(loadtest.SeriesRequests, s.Tags))
		for j := range x {
			if er != nil && !(er[j] >= minChannelRequests) {
				x[j] = math.NaN()
			}
		}
		endpoints = append(endpoints, channel{metric: s.Name, tags: map[string]string{"name": name}, x: x, reqs: er})
	}
	slices.SortFunc(endpoints, func(p, q channel) int { return compareStrings(p.tags["name"], q.tags["name"]) })
	return overall, endpoints
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// movedEndpoint returns the name tag of the one endpoint whose p95 moved
// when the overall latency did, from points [b0, at) to [at, e): its
// relative change is at least the overall one (one endpoint of several
// moves more than their mix) and every other endpoint's at most a quarter
// of it. Nil with fewer than two endpoints, or when several moved.
func (a *analysis) movedEndpoint(b0, at, e int, overall float64) (map[string]string, float64) {
	_, endpoints := a.latencyChannels()
	if len(endpoints) < 2 || !(overall > 0) {
		return nil, 0
	}
	changes := make([]float64, len(endpoints))
	best := 0
	for k, ch := range endpoints {
		before, after := median(finite(ch.x[max(0, b0):at])), median(finite(ch.x[at:min(e, a.n)]))
		if !(before > 0) || !(after > 0) {
			return nil, 0
		}
		changes[k] = after/before - 1
		if changes[k] > changes[best] {
			best = k
		}
	}
	if changes[best] < overall {
		return nil, 0
	}
	for k, c := range changes {
		if k != best && c > changes[best]/4 {
			return nil, 0
		}
	}
	return endpoints[best].tags, changes[best]
}

// what names the channel's percentile: "p95 latency" or "median latency".
func (ch *channel) what() string {
	if ch.metric == loadtest.SeriesLatencyP50 {
		return "median latency"
	}
	return "p95 latency"
}

// loadLevels returns the planned load at each point (the sum of the
// scenarios' VUs or arrival rates at its middle; NaN when none runs), or
// the VU series without a plan; nil when neither says.
func (a *analysis) loadLevels() []float64 {
	if a.loads != nil {
		return a.loads
	}
	if loads, ok := planLoads(a.r.Config.Scenarios); ok {
		out := make([]float64, a.n)
		for i := range out {
			t := a.at(i) + a.step/2
			for _, l := range loads {
				out[i] += l.levelAt(t)
			}
			if out[i] == 0 {
				out[i] = math.NaN()
			}
		}
		a.loads = out
		return out
	}
	a.loads = a.series(loadtest.SeriesVUs)
	return a.loads
}

// levelAt returns the scenario's planned load at t (0 when it does not run).
func (l scenarioLoad) levelAt(t time.Duration) float64 {
	ks := l.knots
	if len(ks) == 0 || t < ks[0].t || t > ks[len(ks)-1].t {
		return 0
	}
	for i := 0; i+1 < len(ks); i++ {
		p, q := ks[i], ks[i+1]
		if t >= p.t && t <= q.t && q.t > p.t {
			return p.level + (q.level-p.level)*float64(t-p.t)/float64(q.t-p.t)
		}
	}
	return ks[len(ks)-1].level
}

// steadyLoad reports whether the load stays within 10 % over points
// [i, j) (true when nothing says the load).
func (a *analysis) steadyLoad(i, j int) bool {
	l := a.loadLevels()
	if l == nil {
		return true
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for k := max(i, 0); k < min(j, len(l)); k++ {
		if v := l[k]; !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return math.IsInf(lo, 1) || hi <= 1.1*lo+1e-9
}

// medianLoad returns the median planned load over points [i, j).
func (a *analysis) medianLoad(i, j int) float64 {
	l := a.loadLevels()
	if l == nil {
		return math.NaN()
	}
	return median(finite(l[max(i, 0):min(j, len(l))]))
}

// rise is a gross rise found by the screen: from point at to end (the
// first point after it), from level before to level after.
type rise struct {
	ch            *channel
	at, end       int
	before, after float64 // medians, in the channel's units
}

func (r rise) ratio() float64 { return r.after / r.before }

// screenWindow is how many points each side of a candidate onset the
// screen compares: a gross change must last that long.
const screenWindow = 3

// abruptRises finds the points of x where the median of the next
// screenWindow points is at least minRatio times that of the previous
// ones, and the load does not explain it (latency may grow with the load
// at most in proportion). Each rise runs to where x falls back below the
// geometric middle of its two levels for screenWindow points, or to the
// end.
func (a *analysis) abruptRises(ch *channel, minRatio float64) []rise {
	x := ch.x
	var idx []int
	var lx []float64
	for i, v := range x {
		if v > 0 && !math.IsInf(v, 0) {
			idx, lx = append(idx, i), append(lx, math.Log(v))
		}
	}
	const w = screenWindow
	m := len(lx)
	if m < 2*w {
		return nil
	}
	// A rise while the load grows may be the load's: at saturation latency
	// grows in proportion to it (Little's law), so a rise is counted over
	// that, and must be twice what the load explains.
	load := a.loadLevels()
	score := make([]float64, m) // log ratio of the windows' medians, over what the load explains
	loadGrew := make([]bool, m)
	for k := w; k+w <= m; k++ {
		d := median(lx[k:k+w]) - median(lx[k-w:k])
		if load != nil {
			lb, la := medianAt(load, idx[k-w:k]), medianAt(load, idx[k:k+w])
			if lb > 0 && la > 1.05*lb {
				d -= math.Log(la / lb)
				loadGrew[k] = true
			}
		}
		score[k] = d
	}
	var out []rise
	// The jump must also stand out of the channel's own noise: a p95 of a
	// few requests a second swings more than one of hundreds. σ is the
	// robust spread of one point (from its first differences), and the
	// medians of two windows of w points differ by 5σ·√(2/w) at the least.
	d := make([]float64, m-1)
	for i := range d {
		d[i] = lx[i+1] - lx[i]
	}
	sigma := mad(d) / math.Sqrt2
	noise := 5 * sigma * math.Sqrt(2.0/w)
	threshold := func(k int) float64 {
		if loadGrew[k] {
			return max(math.Log(loadedRatio*minRatio), noise)
		}
		return max(math.Log(minRatio), noise)
	}
	for k := w; k+w <= m; {
		if score[k] < threshold(k) {
			k++
			continue
		}
		// A run of candidates: the onset is where the windows' means
		// differ most (the medians tie around a clean jump).
		best, bestD := k, math.Inf(-1)
		j := k
		for ; j+w <= m && score[j] >= threshold(j); j++ {
			if d := stats.Mean(lx[j:j+w]) - stats.Mean(lx[j-w:j]); d > bestD {
				best, bestD = j, d
			}
		}
		before := median(lx[max(0, best-3*w):best])
		after := median(lx[best : best+w])
		mid := (before + after) / 2
		// It ends where two points in a row fall back below the middle of
		// the two levels; it must hold w points above it.
		end, high := m, 0
		for e := best; e < m; e++ {
			if lx[e] >= mid {
				high++
				continue
			}
			if e+1 >= m || lx[e+1] < mid {
				end = e
				break
			}
		}
		if len(out) > 0 && out[len(out)-1].end > idx[best] {
			k = j
			continue // inside the previous rise
		}
		r := rise{ch: ch, at: idx[best], before: math.Exp(before), after: math.Exp(median(lx[best:end]))}
		r.end = a.n
		if end < m {
			r.end = idx[end]
		}
		if high >= w && r.ratio() >= minRatio {
			out = append(out, r)
		}
		k = max(j, end)
	}
	return out
}

// medianAt returns the median of xs at the points idx.
func medianAt(xs []float64, idx []int) float64 {
	v := make([]float64, 0, len(idx))
	for _, i := range idx {
		if i < len(xs) && !math.IsNaN(xs[i]) {
			v = append(v, xs[i])
		}
	}
	return median(v)
}

// claim is a window a detector has explained, so that later detectors do
// not report it again in other words.
type claim struct {
	a, b   int
	family string // "latency"
}

func (a *analysis) claimed(family string, i, j int) bool {
	for _, c := range a.claims {
		if c.family == family && i < c.b && c.a < j {
			return true
		}
	}
	return false
}

// loadedRatio is the share of Options.GrossRatio by which latency must
// rise beyond the load's growth, when the load grew: 2× at the default
// 2.5×.
const loadedRatio = 0.8

// grossLatency runs the screen on latency: per endpoint first (so that a
// change on one endpoint of several is named), then overall. A rise that
// keeps rising is a drift, not a step: it is left to the drift detector.
func (a *analysis) grossLatency() {
	overall, endpoints := a.latencyChannels()
	if len(overall) == 0 {
		return
	}
	var found []rise
	if len(endpoints) > 1 {
		for i := range endpoints {
			for _, r := range a.abruptRises(&endpoints[i], a.o.GrossRatio) {
				if !a.keepsRising(r) {
					found = append(found, r)
				}
			}
		}
	}
	// Overall: a rise not already seen on an endpoint (one endpoint, or all
	// of them).
	for i := range overall {
		for _, r := range a.abruptRises(&overall[i], a.o.GrossRatio) {
			if a.keepsRising(r) || slices.ContainsFunc(found, func(f rise) bool { return abs(f.at-r.at) <= screenWindow }) {
				continue
			}
			found = append(found, r)
		}
	}
	// All endpoints at once is an overall change.
	if len(endpoints) > 1 {
		found = a.foldAllEndpoints(found, len(endpoints), overall)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].at < found[j].at })
	for _, r := range found {
		if a.claimed("stall", r.at, r.end) {
			continue
		}
		a.reportStep(r)
	}
}

// foldAllEndpoints replaces rises seen at about the same time on every
// endpoint by one overall rise.
func (a *analysis) foldAllEndpoints(found []rise, endpoints int, overall []channel) []rise {
	var out []rise
	used := make([]bool, len(found))
	for i, r := range found {
		if used[i] || r.ch.tags == nil {
			continue
		}
		var group []int
		for j, s := range found {
			if !used[j] && s.ch.tags != nil && abs(s.at-r.at) <= screenWindow {
				group = append(group, j)
			}
		}
		if len(group) < endpoints {
			continue
		}
		for _, j := range group {
			used[j] = true
		}
		// The overall p95 over the same points.
		o := rise{ch: &overall[0], at: r.at, end: r.end}
		for _, j := range group {
			o.at, o.end = min(o.at, found[j].at), max(o.end, found[j].end)
		}
		o.before = median(finite(overall[0].x[max(0, o.at-3*screenWindow):o.at]))
		o.after = median(finite(overall[0].x[o.at:o.end]))
		if o.before > 0 && o.after > 0 {
			out = append(out, o)
		}
	}
	for i, r := range found {
		if !used[i] {
			out = append(out, r)
		}
	}
	return out
}

// keepsRising reports whether latency after a rise's onset keeps climbing
// — a drift, whose onset and shape the drift detector reports.
func (a *analysis) keepsRising(r rise) bool {
	var t, y []float64
	for i := r.at; i < r.end; i++ {
		if v := r.ch.x[i]; v > 0 {
			t, y = append(t, float64(i)), append(y, v)
		}
	}
	if len(y) < 6 {
		return false
	}
	_, z, p := mannKendall(y)
	if z <= 0 || p > 0.01 {
		return false
	}
	// Climbing by as much again as the jump over the rest of the window.
	slope := senSlope(t, y)
	return slope*(t[len(t)-1]-t[0]) >= 0.5*(median(y)-r.before)
}

// reportStep records a gross latency rise: its levels, the factor, and
// what requests per second did meanwhile at the same load.
func (a *analysis) reportStep(r rise) {
	ratio := r.ratio()
	ev := map[string]float64{"baseline_ms": r.before, "observed_ms": r.after, "change": ratio - 1, "factor": ratio}
	var where string
	if r.ch.tags != nil {
		where = " of " + r.ch.tags["name"]
	}
	what := r.ch.what()
	until := "to the end of the run"
	if r.end < a.n {
		until = "until " + fmtSec(a.at(r.end))
	}
	msg := fmt.Sprintf("The %s%s rose %s (%s → %s) at %s and stayed up %s", what, where, fmtFactor(ratio),
		fmtMs(r.before), fmtMs(r.after), fmtSec(a.at(r.at)), until)
	// Throughput at the same load: with looping VUs it falls as latency
	// rises; with an arrival rate it holds and the VUs grow.
	reqs := a.series(loadtest.SeriesRequests)
	if r.ch.reqs != nil {
		reqs = r.ch.reqs
	}
	lb, la := a.medianLoad(max(0, r.at-3*screenWindow), r.at), a.medianLoad(r.at, r.end)
	if reqs != nil && a.steadyLoad(max(0, r.at-3*screenWindow), r.end) {
		rb, ra := median(finite(reqs[max(0, r.at-3*screenWindow):r.at])), median(finite(reqs[r.at:r.end]))
		if rb > 0 && ra >= 0 && (ra <= rb/1.5 || ra >= 1.5*rb) {
			ev["rps_before"], ev["rps_after"] = rb, ra
			load := fmt.Sprintf("%g VUs", lb)
			if a.arrivalRate() {
				load = fmt.Sprintf("%g iterations/s", lb)
			}
			dir := "fell"
			if ra > rb {
				dir = "rose"
			}
			msg += fmt.Sprintf("; requests/s%s %s from %.0f to %.0f at a steady %s", where, dir, rb, ra, load)
		}
	}
	if !math.IsNaN(la) {
		ev["load"] = la
	}
	a.claims = append(a.claims, claim{a: r.at, b: r.end, family: "latency"})
	kind, sev := KindLatencyShift, latencySeverity(ratio-1)
	held := a.at(r.end) - a.at(r.at)
	if r.end < a.n && (held < a.o.SpikeFor || held < 2*a.o.SpikeFor && ratio < episodeRatio) {
		// Over within seconds: a spike, not a new level.
		kind, sev = KindLatencySpike, SeverityLow
		if held > a.o.SpikeFor {
			sev = SeverityMedium
		}
		msg = fmt.Sprintf("The %s%s spiked %s (%s → %s) from %s to %s, then came back", what, where, fmtFactor(ratio),
			fmtMs(r.before), fmtMs(r.after), fmtSec(a.at(r.at)), fmtSec(a.at(r.end)))
	}
	a.add(Finding{Kind: kind, Severity: sev, Target: BlameTarget, Metric: r.ch.metric,
		Tags: r.ch.tags, Method: "gross-screen", Evidence: ev, Message: msg + "."}, r.at, r.end)
}

// episodeRatio is how many times higher a rise that came back within
// twice Options.SpikeFor must be to be a new level rather than a spike: its
// own few seconds are all its evidence, and a p95 of tens of requests a
// second on a busy machine swings 2–3× for seconds now and then.
const episodeRatio = 4.0

// fmtFactor formats a ratio of levels: "3.2×", "12×".
func fmtFactor(f float64) string {
	if f >= 10 {
		return fmt.Sprintf("%.0f×", f)
	}
	return fmt.Sprintf("%.1f×", f)
}

// fmtSec formats an offset in the run with a tenth of a second, "8.0 s",
// or in whole seconds from two minutes on, "2m48s".
func fmtSec(d time.Duration) string {
	if d >= 2*time.Minute {
		return fmtDur(d)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
