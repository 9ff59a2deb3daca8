package anomaly

import (
	"fmt"
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

// contentionEpisodes returns the stretches in which the generator waited
// to run: scheduling p99 at or above minContention and five times its
// median, while its own CPU was not saturated.
func (a *analysis) contentionEpisodes() []span {
	sched := a.series(loadtest.SeriesGeneratorSched)
	if sched == nil {
		return nil
	}
	gen := a.series(loadtest.SeriesGeneratorCPU)
	th := max(minContention, 5*median(finite(sched)))
	starved := make([]float64, a.n)
	for i, v := range sched {
		if v >= th && (gen == nil || !(gen[i] >= a.o.GeneratorCPU)) {
			starved[i] = 1
		}
	}
	return episodesAbove(starved, 1, 1)
}

// hostContention folds latency findings that begin in a contention
// episode into one host-contention finding per episode, blamed on the
// generator's host.
func (a *analysis) hostContention() {
	eps := a.contentionEpisodes()
	if len(eps) == 0 {
		return
	}
	sched, host, gen := a.series(loadtest.SeriesGeneratorSched), a.series(loadtest.SeriesHostCPU), a.series(loadtest.SeriesGeneratorCPU)
	for _, ep := range eps {
		var folded []Finding
		a.found = slices.DeleteFunc(a.found, func(f Finding) bool {
			switch f.Kind {
			case KindLatencyShift, KindLatencySpike, KindLatencyDrift, KindLatencyStall, KindLatencyDegradation:
			default:
				return false
			}
			// The contention explains a rise that began with it and was
			// over when it was.
			at, end := a.index(f.Start), a.index(f.End)
			if at < ep.a-1 || at >= ep.b || end > ep.b+3 {
				return false
			}
			folded = append(folded, f)
			return true
		})
		worst := maxFinite(sched[ep.a:ep.b])
		long := ep.b-ep.a >= 3
		if len(folded) == 0 && !(long && worst >= 5*minContention) {
			continue
		}
		ev := map[string]float64{"sched_p99_ms": worst, "seconds": (a.at(ep.b) - a.at(ep.a)).Seconds()}
		text := fmt.Sprintf("From %s to %s the load generator's goroutines waited up to %s to run", fmtSec(a.at(ep.a)), fmtSec(a.at(ep.b)), fmtMs(worst))
		if host != nil {
			h := median(finite(host[ep.a:ep.b]))
			ev["host_cpu_pct"] = h
			text += fmt.Sprintf(" while the host's CPUs were %.0f %% busy", h)
		}
		if gen != nil {
			g := median(finite(gen[ep.a:ep.b]))
			ev["generator_cpu_pct"] = g
			text += fmt.Sprintf(" and the generator itself used %.0f %%", g)
		}
		text += ": other processes took the CPU, so latencies measured then include the generator's own wait."
		if len(folded) > 0 {
			var change float64
			for _, f := range folded {
				change = max(change, f.Evidence["change"])
			}
			ev["latency_change"] = change
			text += fmt.Sprintf(" Latency rose %s meanwhile; that rise is not blamed on the target.", pct(change))
		}
		a.add(Finding{Kind: KindHostContention, Severity: SeverityLow, Target: BlameGenerator, Metric: loadtest.SeriesGeneratorSched,
			Method: "rule", Evidence: ev, Message: text}, ep.a, ep.b)
	}
}
