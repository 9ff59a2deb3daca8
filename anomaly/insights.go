package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/internal/stats"
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
					why := "the script or its configuration is probably wrong (URLs, auth, payloads)"
					if cause := a.failureCause(); cause != "" {
						why = cause
					}
					a.add(Finding{Kind: KindEarlyFailures, Severity: SeverityHigh, Target: BlameTest, Metric: loadtest.SeriesFailedRate,
						Method:   "rule",
						Evidence: map[string]float64{"observed": rate, "threshold": a.o.EarlyFailureRate, "requests": n, "failed": k},
						Message: fmt.Sprintf("%s of the first %.0f requests failed (more than %s): %s.",
							pct(rate), n, pct(a.o.EarlyFailureRate), why)}, 0, i+1)
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
			if ep.b-ep.a < a.points(a.cpuFor()) {
				continue
			}
			m := stats.Mean(finite(cpu[ep.a:ep.b]))
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

// targetCPU reports the target's CPU saturation when Options.TargetCPUs
// says how many CPUs it may use: its CPU at or above TargetCPU % of them
// for cpuFor. An episode inside a throughput limit that already names the
// target's CPU is that finding's cause, not a finding of its own.
func (a *analysis) targetCPU() {
	if a.o.TargetCPUs <= 0 {
		return
	}
	cpu, tags := a.seriesAny(loadtest.SeriesTargetCPU)
	if cpu == nil {
		return
	}
	th := a.o.TargetCPU * a.o.TargetCPUs
	for _, ep := range episodesAbove(cpu, th, 3) {
		if ep.b-ep.a < a.points(a.cpuFor()) || a.explainedByLimit(ep) {
			continue
		}
		m := stats.Mean(finite(cpu[ep.a:ep.b]))
		d := a.at(ep.b) - a.at(ep.a)
		a.add(Finding{Kind: KindTargetCPU, Severity: SeverityHigh, Target: BlameTarget, Metric: loadtest.SeriesTargetCPU, Tags: tags,
			Method:   "rule",
			Evidence: map[string]float64{"observed_pct": m, "threshold_pct": th, "cpus": a.o.TargetCPUs, "seconds": d.Seconds()},
			Message: fmt.Sprintf("The target's CPU averaged %.0f %% of its %g CPUs for %s (at or above %.0f %%): it is CPU-bound; latency and throughput of that time are limited by its CPU.",
				m/a.o.TargetCPUs, a.o.TargetCPUs, fmtDur(d), a.o.TargetCPU)}, ep.a, ep.b)
	}
}

// explainedByLimit reports whether a throughput-limit finding that names
// the target's CPU overlaps ep.
func (a *analysis) explainedByLimit(ep span) bool {
	for _, f := range a.found {
		if _, ok := f.Evidence["target_cpu_pct"]; ok && f.Kind == KindThroughputLimit && f.Start < a.at(ep.b) && a.at(ep.a) < f.End {
			return true
		}
	}
	return false
}

// targetCPUPegged says whether the target's CPU was pegged over timeline
// points [i, j) of a throughput limit: the median of the second half at or
// above TargetCPU % of a whole number of CPUs — Options.TargetCPUs, or,
// unknown, the count that level suggests (85–105 % of one CPU is one
// CPU) — and no longer rising (the last third within 10 % of the first).
// It returns a sentence for the finding's message, the level in percent of
// one CPU and the CPUs, or "" when it was not.
func (a *analysis) targetCPUPegged(i, j int) (msg string, level, cpus float64) {
	cpu, _ := a.seriesAny(loadtest.SeriesTargetCPU)
	if cpu == nil || j-i < 6 {
		return "", 0, 0
	}
	level = median(finite(cpu[(i+j)/2 : j]))
	third := (j - i) / 3
	early, late := median(finite(cpu[i:i+third])), median(finite(cpu[j-third:j]))
	if !(level > 0) || !(early > 0) || math.Abs(late/early-1) > 0.10 {
		return "", 0, 0
	}
	cpus = a.o.TargetCPUs
	if cpus <= 0 {
		cpus = max(1, math.Ceil(level/100-0.05))
	}
	if level < a.o.TargetCPU*cpus {
		return "", 0, 0
	}
	noun := "CPUs"
	if cpus == 1 {
		noun = "CPU"
	}
	return fmt.Sprintf(" The target's CPU held at %.0f %% of %g %s meanwhile: it ran out of CPU.", level/cpus, cpus, noun), level, cpus
}

// cpuFor returns how long a CPU must stay saturated: GeneratorCPUFor, or
// a third of a short run (at least 10 s).
func (a *analysis) cpuFor() time.Duration {
	return min(a.o.GeneratorCPUFor, max(10*time.Second, a.duration()/3))
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
