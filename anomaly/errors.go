package anomaly

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/loadlens/loadlens/internal/stats"
	"github.com/loadlens/loadlens/loadtest"
)

// errorEpisodes finds periods of elevated HTTP failures: a Bernoulli CUSUM
// (Page's test of the failure rate against the run's baseline) marks where
// the rate rose and where it came back; each episode is confirmed by a
// one-sided binomial test against the baseline at PValue/1000 and must
// exceed it by MinBurst. An episode that lasts to the end of the run and
// rose by FailureIncrease is k6's "increased HTTP failure rate"; others
// are bursts.
func (a *analysis) errorEpisodes() {
	reqs, fr := a.series(loadtest.SeriesRequests), a.series(loadtest.SeriesFailedRate)
	if reqs == nil || fr == nil {
		return
	}
	n := make([]float64, a.n)
	k := make([]float64, a.n)
	var total float64
	for i := range n {
		if v, f := reqs[i], fr[i]; v > 0 && !math.IsNaN(f) {
			n[i], k[i] = v, math.Round(v*f)
			total += v
		}
	}
	if total < float64(a.o.EarlyRequests) {
		return
	}
	// Baseline blocks of 30 s, or a tenth of a short run (at least 2
	// points), so that a burst never fills the one block of a short run.
	bs := min(a.points(30*time.Second), max(2, a.n/10))
	p0 := baselineRate(n, k, bs)
	p0 = max(p0, 0.1/total, 1e-6)
	// In a short run a burst fills more than the tenth of the blocks left
	// out and lifts that baseline: once the CUSUM has found the episodes,
	// the baseline is the pooled rate outside them.
	if eps := a.cusum(n, k, p0); len(eps) > 0 && bs < a.points(30*time.Second) {
		var sn, sk float64
		in := 0
		for i := range n {
			for in < len(eps) && i >= eps[in].b {
				in++
			}
			if in < len(eps) && i >= eps[in].a {
				continue
			}
			sn, sk = sn+n[i], sk+k[i]
		}
		if sn >= float64(a.o.EarlyRequests) {
			p0 = max(min(p0, sk/sn), 0.1/total, 1e-6)
		}
	}
	a.dispersion = dispersion(n, k, p0, a.points(10*time.Second))
	for _, ep := range a.cusum(n, k, p0) {
		a.errorEpisode(n, k, ep.a, ep.b, p0)
	}
}

// cusum returns the episodes of failure rate above p0 that a Bernoulli
// CUSUM flags: from where its statistic last left zero to where it
// peaked, for statistics that passed the decision interval.
func (a *analysis) cusum(n, k []float64, p0 float64) []span {
	p1 := max(2*p0, p0+a.o.MinBurst)
	up, down := math.Log(p1/p0), math.Log((1-p1)/(1-p0))
	const h = 10.0 // decision interval: e^10 likelihood ratio
	var s, peak float64
	start, peakAt := 0, 0
	flag := false
	var out []span
	flush := func() {
		if flag {
			out = append(out, span{a: start, b: peakAt + 1})
		}
		flag = false
	}
	for i := range n {
		if n[i] == 0 {
			continue
		}
		s = max(0, s+k[i]*up+(n[i]-k[i])*down)
		switch {
		case s == 0:
			flush()
			start, peak = i+1, 0
		case s > peak:
			peak, peakAt = s, i
			if s > h {
				flag = true
			}
		}
	}
	flush()
	return out
}

// trimEpisode narrows a CUSUM episode [i, j) to where it really ran: the
// CUSUM starts where its statistic last left zero, which a few failures of
// the baseline's before the rise may have lifted; seconds at its edges
// whose failure rate stays below the middle of the baseline's and the
// episode's are not part of it.
func trimEpisode(n, k []float64, i, j int, p0 float64) (int, int) {
	var sn, sk float64
	for t := i; t < j; t++ {
		sn, sk = sn+n[t], sk+k[t]
	}
	if sn == 0 {
		return i, j
	}
	mid := (p0 + sk/sn) / 2
	for i < j-1 && !(n[i] > 0 && k[i]/n[i] >= mid) {
		i++
	}
	for j > i+1 && !(n[j-1] > 0 && k[j-1]/n[j-1] >= mid) {
		j--
	}
	return i, j
}

// baselineRate returns the run's typical failure rate: the pooled rate of
// its blocks of bs points, leaving out the tenth of blocks with the highest
// rates (at least one of three or more; robust to bursts, unlike a median
// of mostly-zero block rates). No second weighs more than the median
// second: fast failures (refused connections) come by the thousand and
// would otherwise set the baseline.
func baselineRate(n, k []float64, bs int) float64 {
	var counts []float64
	for _, v := range n {
		if v > 0 {
			counts = append(counts, v)
		}
	}
	limit := median(counts)
	type block struct{ n, k float64 }
	var blocks []block
	for i := 0; i < len(n); i += bs {
		var b block
		for j := i; j < min(i+bs, len(n)); j++ {
			if n[j] > 0 {
				w := min(1, limit/n[j])
				b.n += n[j] * w
				b.k += k[j] * w
			}
		}
		if b.n > 0 {
			blocks = append(blocks, b)
		}
	}
	slices.SortStableFunc(blocks, func(x, y block) int { return cmp.Compare(x.k/x.n, y.k/y.n) })
	drop := len(blocks) / 10
	if drop == 0 && len(blocks) >= 3 {
		drop = 1
	}
	keep := blocks[:len(blocks)-drop]
	var sn, sk float64
	for _, b := range keep {
		sn, sk = sn+b.n, sk+b.k
	}
	if sn == 0 {
		return 0
	}
	return sk / sn
}

// dispersion estimates how much more failures vary between blocks of bs
// points than a binomial would: Pearson's χ² per degree of freedom over the
// blocks, leaving out the tenth with the largest contributions (a burst),
// at least 1.
func dispersion(n, k []float64, p0 float64, bs int) float64 {
	var chi []float64
	for i := 0; i < len(n); i += bs {
		var bn, bk float64
		for j := i; j < min(i+bs, len(n)); j++ {
			bn, bk = bn+n[j], bk+k[j]
		}
		if e := bn * p0 * (1 - p0); e > 0 {
			chi = append(chi, (bk-bn*p0)*(bk-bn*p0)/e)
		}
	}
	if len(chi) < 10 {
		return 1
	}
	slices.Sort(chi)
	keep := chi[:len(chi)-len(chi)/10]
	// The kept values are the smaller 90 % of χ²₁ draws, whose mean is
	// about 0.70 rather than 1.
	return max(1, stats.Mean(keep)/0.70)
}

// minBurstFailures is the fewest failed requests an episode needs: two or
// three failures are never a burst, whatever their share.
const minBurstFailures = 5

func (a *analysis) errorEpisode(n, k []float64, i, j int, p0 float64) {
	i, j = trimEpisode(n, k, i, j, p0)
	var sn, sk float64
	for t := i; t < j; t++ {
		sn += n[t]
		sk += k[t]
	}
	if sn == 0 {
		return
	}
	rate := sk / sn
	// Quasi-binomial: failures are over-dispersed in real runs; dividing
	// the counts by the dispersion keeps the test honest.
	p := binomialUpper(sk/a.dispersion, sn/a.dispersion, p0)
	if sk < minBurstFailures || rate-p0 < a.o.MinBurst || p > a.o.PValue/1000 {
		return
	}
	ev := map[string]float64{"observed": rate, "baseline": p0, "p_value": p, "failed": sk, "requests": sn}
	tags := a.blameEndpoint(i, j, ev)
	if a.networkDominated(tags) || i < a.earlyEnd {
		return // network errors are networkErrors'; early ones the early failures'
	}
	where := ""
	if tags != nil {
		where = " on " + tags["name"]
	}
	excess := rate - p0
	sev := SeverityLow
	switch {
	case excess >= 0.10:
		sev = SeverityHigh
	case excess >= 0.03:
		sev = SeverityMedium
	}
	// To the end: within MergeGap of it, or a tenth of a short run (at
	// least 2 s).
	toEnd := a.at(j) >= a.at(a.n)-min(a.o.MergeGap, max(2*time.Second, a.duration()/10))
	if toEnd && excess >= a.o.FailureIncrease {
		// "Before" is the pooled rate of the points before the rise: the
		// run's robust baseline p0 takes in part of a long final episode.
		before := p0
		var bn, bk float64
		for t := range i {
			bn, bk = bn+n[t], bk+k[t]
		}
		if bn > 0 {
			before = bk / bn
			ev["before"] = before
		}
		a.add(Finding{Kind: KindFailureIncrease, Severity: max(sev, SeverityHigh), Target: BlameTarget, Metric: loadtest.SeriesFailedRate,
			Tags: tags, Method: "cusum+binomial", Evidence: ev,
			Message: fmt.Sprintf("The HTTP failure rate rose to %s%s from %s and stayed there to the end (it was %s before): the target is probably near its limit.",
				pct(rate), where, fmtDur(a.at(i)), pct(before))}, i, j)
		return
	}
	a.add(Finding{Kind: KindErrorBurst, Severity: sev, Target: BlameTarget, Metric: loadtest.SeriesFailedRate, Tags: tags,
		Method: "cusum+binomial", Evidence: ev,
		Message: fmt.Sprintf("%s of requests failed%s for %s from %s (%.0f of %.0f; baseline %s, binomial p=%.1e).",
			pct(rate), where, fmtDur(a.at(j)-a.at(i)), fmtDur(a.at(i)), sk, sn, pct(p0), p)}, i, j)
}

// blameEndpoint returns the name tag of the endpoint that accounts for at
// least 80 % of the extra failures in [i, j), when one does.
func (a *analysis) blameEndpoint(i, j int, ev map[string]float64) map[string]string {
	type ep struct {
		name   string
		excess float64
	}
	var eps []ep
	var total float64
	for si := range a.r.Timeline.Series {
		s := &a.r.Timeline.Series[si]
		name, ok := s.Tags["name"]
		if s.Name != loadtest.SeriesFailedRate || !ok || len(s.Tags) != 1 {
			continue
		}
		reqs := a.pad(a.r.Timeline.Find(loadtest.SeriesRequests, s.Tags))
		fr := a.pad(s)
		if reqs == nil {
			continue
		}
		var in, inK, out, outK float64
		for t := range reqs {
			if !(reqs[t] > 0) || math.IsNaN(fr[t]) {
				continue
			}
			f := math.Round(reqs[t] * fr[t])
			if t >= i && t < j {
				in, inK = in+reqs[t], inK+f
			} else {
				out, outK = out+reqs[t], outK+f
			}
		}
		base := 0.0
		if out > 0 {
			base = outK / out
		}
		x := inK - base*in
		if x > 0 {
			eps = append(eps, ep{name, x})
			total += x
		}
	}
	for _, e := range eps {
		if total > 0 && e.excess >= 0.8*total {
			ev["endpoint_share"] = e.excess / total
			return map[string]string{"name": e.name}
		}
	}
	return nil
}
