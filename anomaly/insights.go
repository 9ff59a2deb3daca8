package anomaly

import (
	"fmt"
	"math"

	"github.com/loadlens/loadlens/loadtest"
)

// insights applies k6 Cloud's performance insights that are not
// time-series detectors of their own: a high failure rate among the first
// requests, and too many distinct URLs.
func (a *analysis) insights() {
	reqs, fr := a.series(loadtest.SeriesRequests), a.series(loadtest.SeriesFailedRate)
	if reqs != nil && fr != nil {
		var n, k float64
		for i := range reqs {
			if math.IsNaN(reqs[i]) || math.IsNaN(fr[i]) {
				continue
			}
			n += reqs[i]
			k += math.Round(reqs[i] * fr[i])
			if n >= float64(a.o.EarlyRequests) {
				if rate := k / n; rate > a.o.EarlyFailureRate {
					a.add(Finding{Kind: KindEarlyFailures, Severity: SeverityHigh, Target: BlameTest, Metric: loadtest.SeriesFailedRate,
						Method:   "rule",
						Evidence: map[string]float64{"observed": rate, "threshold": a.o.EarlyFailureRate, "requests": n, "failed": k},
						Message: fmt.Sprintf("%s of the first %.0f requests failed (more than %s): the script or its configuration is probably wrong (URLs, auth, payloads).",
							pct(rate), n, pct(a.o.EarlyFailureRate))}, 0, i+1)
					a.earlyEnd = i + 1
				}
				break
			}
		}
	}
	if d := a.r.DistinctNames; d > a.o.MaxURLs {
		a.add(Finding{Kind: KindTooManyURLs, Severity: SeverityMedium, Target: BlameTest, Metric: "http_reqs", Method: "rule",
			Evidence: map[string]float64{"observed": float64(d), "threshold": float64(a.o.MaxURLs)},
			Message: fmt.Sprintf("%d distinct URLs were requested (more than %d): URLs with ids in them should be grouped with a name tag, or the per-URL statistics mean little.",
				d, a.o.MaxURLs)}, -1, -1)
	}
}

// generator checks the load generator's own health: CPU saturation, which
// makes every latency it measured suspect, and high memory.
func (a *analysis) generator() {
	if cpu := a.series(loadtest.SeriesGeneratorCPU); cpu != nil {
		for _, ep := range episodesAbove(cpu, a.o.GeneratorCPU, 3) {
			if ep.b-ep.a < a.points(a.o.GeneratorCPUFor) {
				continue
			}
			m := mean(finite(cpu[ep.a:ep.b]))
			a.add(Finding{Kind: KindGeneratorCPU, Severity: SeverityHigh, Target: BlameGenerator, Metric: loadtest.SeriesGeneratorCPU,
				Method:   "rule",
				Evidence: map[string]float64{"observed_pct": m, "threshold_pct": a.o.GeneratorCPU, "seconds": a.at(ep.b).Seconds() - a.at(ep.a).Seconds()},
				Message: fmt.Sprintf("The load generator's CPU averaged %.0f %% for %s (at or above %.0f %%): latencies and throughput then measure the generator as much as the target.",
					m, fmtDur(a.at(ep.b)-a.at(ep.a)), a.o.GeneratorCPU)}, ep.a, ep.b)
		}
	} else if g := a.r.Generator; g.CPUAvg >= a.o.GeneratorCPU {
		a.add(Finding{Kind: KindGeneratorCPU, Severity: SeverityHigh, Target: BlameGenerator, Metric: loadtest.SeriesGeneratorCPU, Method: "rule",
			Evidence: map[string]float64{"observed_pct": g.CPUAvg, "max_pct": g.CPUMax, "threshold_pct": a.o.GeneratorCPU},
			Message:  fmt.Sprintf("The load generator's CPU averaged %.0f %% over the run: its latencies and throughput are suspect.", g.CPUAvg)}, -1, -1)
	}

	rss := a.series(loadtest.SeriesGeneratorRSS)
	first := -1
	for i, v := range rss {
		if v >= a.o.GeneratorRSS {
			first = i
			break
		}
	}
	peak := max(a.r.Generator.RSSMaxBytes, maxFinite(rss))
	if peak >= a.o.GeneratorRSS {
		f := Finding{Kind: KindGeneratorMemory, Severity: SeverityMedium, Target: BlameGenerator, Metric: loadtest.SeriesGeneratorRSS, Method: "rule",
			Evidence: map[string]float64{"observed_bytes": peak, "threshold_bytes": a.o.GeneratorRSS},
			Message: fmt.Sprintf("The load generator's resident memory reached %s (limit %s): it may swap or be killed; lower the VUs per generator or split the test.",
				fmtBytes(peak), fmtBytes(a.o.GeneratorRSS))}
		if first >= 0 {
			a.add(f, first, a.n)
		} else {
			a.add(f, -1, -1)
		}
	}
}

// episodesAbove returns the stretches of xs at or above th, joining those
// separated by at most gap points below it (or without data).
func episodesAbove(xs []float64, th float64, gap int) []span {
	var out []span
	start, last := -1, -1
	for i, v := range xs {
		if v >= th {
			if start < 0 || i-last-1 > gap {
				if start >= 0 {
					out = append(out, span{a: start, b: last + 1})
				}
				start = i
			}
			last = i
		}
	}
	if start >= 0 {
		out = append(out, span{a: start, b: last + 1})
	}
	return out
}

// maxFinite returns the largest finite value of xs, or 0.
func maxFinite(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			m = max(m, x)
		}
	}
	return m
}
