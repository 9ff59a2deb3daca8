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
	n := len(x)
	bs := max(5, n/60)
	minRate, minGrowth := a.o.LeakMinRate, a.o.LeakMinGrowth
	if short {
		bs = max(1, n/12)
		minRate, minGrowth = a.o.ShortLeakMinRate, a.o.ShortLeakMinGrowth
	}
	bm := blockMedians(x, bs)
	if len(bm) < 10 {
		return false
	}
	t := make([]float64, len(bm))
	for i := range t {
		t[i] = float64(i*bs) + float64(bs-1)/2
	}
	_, z, p := mannKendall(bm)
	h := len(bm) / 2
	_, z2, p2 := mannKendall(bm[h:])
	if z <= 0 || z2 <= 0 || p > a.o.PValue || p2 > 10*a.o.PValue {
		return false
	}
	perMin := float64(time.Minute) / float64(a.step)
	slope := senSlope(t, bm) * perMin
	slope2 := senSlope(t[h:], bm[h:]) * perMin
	if short {
		// Warm-up slows down; a leak keeps its pace: the last third grows
		// at least 70 % as fast as the first.
		th := len(bm) / 3
		if senSlope(t[len(bm)-th:], bm[len(bm)-th:]) < 0.7*senSlope(t[:th], bm[:th]) {
			return false
		}
	}
	// Onset: a hinge fit on the per-second values.
	pre := newPrefix(x)
	t0, _, hs := pre.bestHinge(0, n, min(10, n/4))
	start := 0
	if t0 > 10 && hs > 0 {
		start = t0
	}
	level := bm[0]
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
	a.add(Finding{Kind: KindMemoryLeak, Severity: sev, Target: blame, Metric: name, Tags: tags, Method: "mann-kendall+sen",
		Evidence: map[string]float64{"slope_bytes_per_min": slope, "baseline_bytes": level, "observed_bytes": bm[len(bm)-1],
			"growth": growth / level, "p_value": p, "minutes_to_double": minutesTo(2 * level), "load": sp.load},
		Message: fmt.Sprintf("%s %s grew steadily by %s per minute at steady load (%s → %s over %s, Mann–Kendall p=%.1e): a leak.",
			upperFirst(who), what, fmtBytes(slope), fmtBytes(level), fmtBytes(bm[len(bm)-1]),
			fmtDur(a.at(sp.b)-a.at(idx[min(start, n-1)])), p)}, idx[min(start, n-1)], sp.b)
	return true
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
