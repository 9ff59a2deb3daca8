package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// leak looks for memory that keeps growing at steady load: the target's
// resident memory and Go heap first (its telemetry), the generator's
// resident memory second. A steady span must last LeakMinDuration after
// MemorySettle; its block medians must trend up (Mann–Kendall) over the
// whole span and over its second half — so warm-up growth that levels off
// is not a leak — by at least LeakMinRate (Sen's slope) and LeakMinGrowth
// overall. A span too short for that (a soak of a minute) is judged after
// a shorter settle, on resident memory only, for a strong leak: see
// ShortLeakMinRate.
//
// One leak finding per episode: once the target's memory shows one, the
// generator's is not judged (with the target in the generator's process,
// as in tests, both are the same memory).
func (a *analysis) leak() {
	type cand struct {
		name  string
		blame Blame
	}
	found := false
	for _, c := range []cand{{loadtest.SeriesTargetRSS, BlameTarget}, {loadtest.SeriesTargetHeap, BlameTarget}, {loadtest.SeriesGeneratorRSS, BlameGenerator}} {
		if found {
			continue // one target finding: RSS, else heap; the generator's is the same episode
		}
		xs, tags := a.seriesAny(c.name)
		if xs == nil {
			continue
		}
		for _, sp := range a.steady {
			full := sp
			full.a += a.points(a.o.MemorySettle)
			var ok bool
			switch {
			case full.b > full.a && a.at(full.b)-a.at(full.a) >= a.o.LeakMinDuration:
				ok = a.leakIn(xs, tags, c.name, c.blame, full, false)
			case c.name != loadtest.SeriesTargetHeap:
				sp.a += a.points(min(a.o.MemorySettle, max(5*time.Second, (a.at(sp.b)-a.at(sp.a))/4)))
				if sp.b-sp.a >= a.points(a.o.ShortSteady) {
					ok = a.leakIn(xs, tags, c.name, c.blame, sp, true)
				}
			}
			found = found || (ok && c.blame == BlameTarget)
		}
	}
	if !found {
		a.leakOverRamp()
	}
}

// leakOverRamp looks for a leak that began while the load still ramped up,
// which the steady spans, starting after the ramp, see too little of: the
// target's resident memory is judged from the run's second second to the
// end of its final planned load, for the strong, linear leak of a short
// span, and must keep growing within that final load on its own (memory
// that a ramp's extra connections take levels off with the load).
func (a *analysis) leakOverRamp() {
	xs, tags := a.seriesAny(loadtest.SeriesTargetRSS)
	load := a.loadLevels()
	if xs == nil || load == nil {
		return
	}
	end := a.n
	for end > 0 && !(load[end-1] > 0) {
		end--
	}
	if end < 2 {
		return
	}
	final, from := load[end-1], end-1
	for from > 0 && math.Abs(load[from-1]-final) <= max(0.5, 0.02*final) {
		from--
	}
	if from <= 1 || end-from < 6 || !(load[1] < 0.9*final) || a.at(end)-a.at(from) >= a.o.MemorySettle+a.o.LeakMinDuration {
		return // no ramp up before the final load, or a long one: leak judged it
	}
	var flat []float64
	for i := from; i < end; i++ {
		if v := xs[i]; v > 0 && !math.IsInf(v, 0) {
			flat = append(flat, v)
		}
	}
	if _, z, p := mannKendall(flat); len(flat) < 6 || z <= 0 || p > 0.05 {
		return
	}
	a.leakIn(xs, tags, loadtest.SeriesTargetRSS, BlameTarget, span{a: 1, b: end, load: final, from: from}, true)
}

// leakIn judges one steady span of memory xs; short asks for the strong,
// linear leak of a short span.
func (a *analysis) leakIn(xs []float64, tags map[string]string, name string, blame Blame, sp span, short bool) bool {
	var idx []int
	var x []float64
	for i := sp.a; i < sp.b; i++ {
		if v := xs[i]; v > 0 && !math.IsInf(v, 0) {
			idx, x = append(idx, i), append(x, v)
		}
	}
	minBlocks := 10
	if short && len(x) >= 16 {
		// A short span is judged from where its memory began to grow (a
		// flat-then-rising fit), so that a leak in its last seconds is not
		// averaged away by the flat part.
		pre := newPrefix(x)
		if t0, sseHinge, slope := pre.bestHinge(0, len(x), 3); t0 > 0 && slope > 0 && len(x)-t0 >= 8 {
			if sseLine, _ := pre.hingeSSE(0, len(x), 0); sseHinge < 0.7*sseLine {
				idx, x, minBlocks = idx[t0:], x[t0:], 8
			}
		}
	}
	n := len(x)
	bs := max(5, n/60)
	minRate, minGrowth := a.o.LeakMinRate, a.o.LeakMinGrowth
	if short {
		bs = max(1, n/12)
		minRate, minGrowth = a.o.ShortLeakMinRate, a.o.ShortLeakMinGrowth
	}
	bm := blockMedians(x, bs)
	if len(bm) < minBlocks {
		return false
	}
	t := make([]float64, len(bm))
	for i := range t {
		t[i] = float64(i*bs) + float64(bs-1)/2
	}
	_, z, p := mannKendall(bm)
	h := len(bm) / 2
	_, z2, p2 := mannKendall(bm[h:])
	// The second half rises too (a warm-up levels off); a short span's half
	// has too few blocks for more than the direction at 5 %.
	halfP := 10 * a.o.PValue
	if short {
		halfP = 0.05
	}
	if z <= 0 || z2 <= 0 || p > a.o.PValue || p2 > halfP {
		return false
	}
	perMin := float64(time.Minute) / float64(a.step)
	slope := senSlope(t, bm) * perMin
	slope2 := senSlope(t[h:], bm[h:]) * perMin
	if short {
		// Warm-up levels off; a leak keeps its pace: the second half grows
		// at least half as fast as the first.
		if senSlope(t[h:], bm[h:]) < 0.5*senSlope(t[:h], bm[:h]) {
			return false
		}
	}
	onset := a.leakOnset(xs, sp, idx[0], short)
	level := bm[0]
	if short {
		// A small process that would double its memory within a minute
		// leaks, whatever its size.
		minRate = min(minRate, level)
	}
	growth := bm[len(bm)-1] - level
	if slope < minRate || slope2 < minRate || growth < minGrowth*level {
		return false
	}
	sev := SeverityMedium
	minutesTo := func(limit float64) float64 { return max(0, limit-bm[len(bm)-1]) / slope }
	if growth >= level || slope >= 10<<20 {
		sev = SeverityHigh
	}
	who := "the target's"
	if blame == BlameGenerator {
		who = "the load generator's"
	}
	what := map[string]string{loadtest.SeriesTargetRSS: "resident memory", loadtest.SeriesTargetHeap: "Go heap in use",
		loadtest.SeriesGeneratorRSS: "resident memory"}[name]
	load := "at steady load"
	if sp.from > sp.a {
		load = fmt.Sprintf("while the load ramped up and then held at %g", sp.load)
	}
	a.add(Finding{Kind: KindMemoryLeak, Severity: sev, Target: blame, Metric: name, Tags: tags, Method: "mann-kendall+sen",
		Evidence: map[string]float64{"slope_bytes_per_min": slope, "baseline_bytes": level, "observed_bytes": bm[len(bm)-1],
			"growth": growth / level, "p_value": p, "minutes_to_double": minutesTo(2 * level), "load": sp.load},
		Message: fmt.Sprintf("%s %s grew steadily by %s per minute %s (%s → %s over %s, Mann–Kendall p=%.1e): a leak.",
			upperFirst(who), what, fmtBytes(slope), load, fmtBytes(level), fmtBytes(bm[len(bm)-1]),
			fmtDur(a.at(sp.b)-a.at(onset)), p)}, onset, sp.b)
	return true
}

// leakOnset returns where a leak found in a steady span began: the corner
// of a flat-then-rising fit, when that fits clearly better than growth all
// along, else from, where the judged part of the span began. A short run
// is fitted from its second second (a leak waits neither for the load to
// settle nor for the ramp to end); a long span after MemorySettle, whose
// warm-up would bend the fit.
//
// A leak keeps a few bytes of each request, so memory is fitted against
// the requests served rather than against time: at a steady load the two
// are the same, while during a ramp the growth in time is convex and a
// corner in time comes late. When memory grew with the requests from the
// first, the corner is where the load began.
func (a *analysis) leakOnset(xs []float64, sp span, from int, short bool) int {
	lo := from
	if short {
		lo = 1
	}
	reqs := a.series(loadtest.SeriesRequests)
	var idx []int
	var x, served []float64
	total := 0.0
	for i := range sp.b {
		r := 0.0
		if reqs != nil && reqs[i] > 0 {
			r = reqs[i]
		}
		total += r
		if v := xs[i]; i >= lo && v > 0 && !math.IsInf(v, 0) {
			// Memory scraped during second i holds about half its requests.
			idx, x, served = append(idx, i), append(x, v), append(served, total-r/2)
		}
	}
	if len(x) < 8 {
		return from
	}
	pos := served
	if reqs == nil || !(total > 0) {
		pos = nil
	}
	pre := newPrefixAt(pos, x)
	t0, sseHinge, slope := pre.bestHinge(0, len(x), 3)
	if t0 < 0 || slope <= 0 {
		return from
	}
	// A short run's leak is where the fit bends best, its start included;
	// a long span's from its settled part unless the corner is clear.
	if sseLine, _ := pre.hingeSSE(0, len(x), 0); !short && sseHinge >= 0.7*sseLine {
		return from
	}
	return idx[t0]
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
