package anomaly

import (
	"fmt"
	"math"
	"slices"

	"github.com/loadlens/loadlens/loadtest"
)

// Host contention: other processes on the generator's machine taking the
// CPU. The generator's own CPU stays low, but its goroutines wait to run
// (generator.sched_p99_ms) while the host's CPUs are busy (host.cpu_pct):
// every latency it measures then includes that wait, and requests start
// late. A latency finding that begins with such an episode is the host's,
// not the target's.

// minContention is the goroutine scheduling latency (p99, ms) from which
// the generator is starved: its timings are off by that much.
const minContention = 10.0

// contentionShare is the share of the second's median latency from which
// the generator's wait to run is part of what it measured: a request's
// timing holds several such waits (the send, the answer's wake-up and,
// with the target in the same process, the target's own).
const contentionShare = 0.25

// contentionEpisodes returns the stretches in which the generator waited
// to run: scheduling p99 at or above minContention and a sizeable share of
// the latency it measured, while its own CPU was not saturated. The wait
// is judged against the latency, not against the run's usual wait: a host
// busy all run long starves the generator all run long.
func (a *analysis) contentionEpisodes() []span {
	sched := a.series(loadtest.SeriesGeneratorSched)
	if sched == nil {
		return nil
	}
	gen := a.series(loadtest.SeriesGeneratorCPU)
	lat := a.series(loadtest.SeriesLatencyP50)
	if lat == nil {
		lat = a.series(loadtest.SeriesLatencyP95)
	}
	starved := make([]float64, a.n)
	for i, v := range sched {
		if v >= minContention && !(lat != nil && v < contentionShare*lat[i]) && (gen == nil || !(gen[i] >= a.o.GeneratorCPU)) {
			starved[i] = 1
		}
	}
	return episodesAbove(starved, 1, 2)
}

// mergeSpans joins spans less than gap points apart.
func mergeSpans(sps []span, gap int) []span {
	var out []span
	for _, sp := range sps {
		if n := len(out); n > 0 && sp.a-out[n-1].b < gap {
			out[n-1].b = max(out[n-1].b, sp.b)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// starvedShare returns the share of the points of [i, j) that lie in the
// episodes.
func starvedShare(eps []span, i, j int) float64 {
	if j <= i {
		return 0
	}
	in := 0
	for _, ep := range eps {
		in += max(0, min(j, ep.b)-max(i, ep.a))
	}
	return float64(in) / float64(j-i)
}

// hostContention folds latency and throughput findings measured while the
// generator was starved into one host-contention finding per episode,
// blamed on the generator's host: those that began with an episode and
// were over when it was, and those measured mostly in episodes (a host
// busy for most of the run). The finding then spans them.
func (a *analysis) hostContention() {
	eps := a.contentionEpisodes()
	if len(eps) == 0 {
		return
	}
	// Which findings the starved seconds explain.
	var folded []Finding
	a.found = slices.DeleteFunc(a.found, func(f Finding) bool {
		switch f.Kind {
		case KindLatencyShift, KindLatencySpike, KindLatencyDrift, KindLatencyStall, KindLatencyDegradation, KindThroughputLimit:
		default:
			return false
		}
		at, end := a.index(f.Start), a.index(f.End)
		began := slices.ContainsFunc(eps, func(ep span) bool { return at >= ep.a-1 && at < ep.b && end <= ep.b+3 })
		if !began && starvedShare(eps, at, end) < 0.5 {
			return false
		}
		folded = append(folded, f)
		return true
	})
	// The episodes, and the findings they explain, joined as the report
	// joins findings of one kind: each finding's message spans what it
	// covers.
	spans := slices.Clone(eps)
	for _, f := range folded {
		spans = append(spans, span{a: a.index(f.Start), b: min(a.n, max(a.index(f.End), a.index(f.Start)+1))})
	}
	slices.SortFunc(spans, func(p, q span) int { return p.a - q.a })
	sched, host, gen := a.series(loadtest.SeriesGeneratorSched), a.series(loadtest.SeriesHostCPU), a.series(loadtest.SeriesGeneratorCPU)
	for _, sp := range mergeSpans(spans, a.points(a.o.MergeGap)+1) {
		var mine []Finding
		for _, f := range folded {
			if at := a.index(f.Start); at >= sp.a && at < sp.b {
				mine = append(mine, f)
			}
		}
		share := starvedShare(eps, sp.a, sp.b)
		if len(mine) == 0 && share*float64(sp.b-sp.a) < 3 {
			continue // a moment's wait explains nothing and says little
		}
		a.reportContention(sp, mine, share, sched, host, gen)
	}
}

// reportContention reports one episode of host contention over sp with
// the findings it explains.
func (a *analysis) reportContention(sp span, folded []Finding, share float64, sched, host, gen []float64) {
	worst := maxFinite(sched[sp.a:sp.b])
	ev := map[string]float64{"sched_p99_ms": worst, "seconds": (a.at(sp.b) - a.at(sp.a)).Seconds(), "starved_share": share}
	text := fmt.Sprintf("From %s to %s the load generator was starved of CPU", fmtSec(a.at(sp.a)), fmtSec(a.at(sp.b)))
	if starved := math.Round(share * float64(sp.b-sp.a)); starved < float64(sp.b-sp.a) {
		text += fmt.Sprintf(" (%.0f s of %.0f)", starved*a.step.Seconds(), float64(sp.b-sp.a)*a.step.Seconds())
	}
	text += fmt.Sprintf(": its goroutines waited up to %s to run", fmtMs(worst))
	if host != nil {
		h := median(finite(host[sp.a:sp.b]))
		ev["host_cpu_pct"] = h
		text += fmt.Sprintf(" while the host's CPUs were %.0f %% busy", h)
	}
	if gen != nil {
		g := median(finite(gen[sp.a:sp.b]))
		ev["generator_cpu_pct"] = g
		text += fmt.Sprintf(" and the generator itself used %.0f %%", g)
	}
	text += ": other processes took the CPU, so latency measured then may be the generator's own wait, not the target's."
	if len(folded) > 0 {
		var change float64
		limit := false
		for _, f := range folded {
			c := f.Evidence["change"]
			if f.Kind == KindThroughputLimit {
				limit = true
				c = f.Evidence["p95_after_ms"]/f.Evidence["p95_before_ms"] - 1
			}
			if !math.IsNaN(c) && !math.IsInf(c, 0) {
				change = max(change, c)
			}
		}
		ev["latency_change"] = change
		text += fmt.Sprintf(" Latency rose %s meanwhile; that rise is not blamed on the target.", pct(change))
		if limit {
			text += " Nor is the throughput's limit: a starved generator cannot send faster."
		}
	}
	a.add(Finding{Kind: KindHostContention, Severity: SeverityLow, Target: BlameGenerator, Metric: loadtest.SeriesGeneratorSched,
		Method: "rule", Evidence: ev, Message: text}, sp.a, sp.b)
}
