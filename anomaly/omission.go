package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// coordinatedOmission reports an arrival-rate schedule the generator could
// not keep: dropped iterations (no VU free when one was due) and iterations
// started late. Either way the latencies miss the time requests would have
// waited (coordinated omission) and understate the stall.
func (a *analysis) coordinatedOmission() {
	dropped, iters := a.series(loadtest.SeriesDropped), a.series(loadtest.SeriesIterations)
	late := a.series(loadtest.SeriesLatenessP99)
	var d, it float64
	first, last := -1, -1
	for i := range a.n {
		if dropped != nil && dropped[i] > 0 {
			d += dropped[i]
			if first < 0 {
				first = i
			}
			last = i
		}
		if iters != nil && iters[i] > 0 {
			it += iters[i]
		}
	}
	if d == 0 && dropped == nil {
		if m, ok := a.r.Metrics["dropped_iterations"]; ok {
			d = m.Values["count"]
		}
	}
	lateMs := float64(a.o.Lateness) / float64(time.Millisecond)
	var lateEp []span
	for _, ep := range episodesAbove(late, lateMs, 3) {
		if ep.b-ep.a >= a.points(10*time.Second) {
			lateEp = append(lateEp, ep)
		}
	}
	share := 0.0
	if d+it > 0 {
		share = d / (d + it)
	}
	// An aborted run drops what it did not start: its finding says why.
	dropFinding := d > 0 && (share > a.o.DroppedRate || a.o.DroppedRate < 0) && a.r.Abort == nil
	if !dropFinding && len(lateEp) == 0 {
		return
	}
	ev := map[string]float64{"dropped": d, "dropped_share": share, "lateness_p99_max_ms": maxFinite(late)}
	if dropFinding {
		sev := SeverityLow
		switch {
		case share >= 0.05:
			sev = SeverityHigh
		case share >= 0.01:
			sev = SeverityMedium
		}
		i, j := first, last+1
		if first < 0 {
			i, j = -1, -1
		}
		msg := fmt.Sprintf("%.0f iterations (%s) were dropped because no VU was free when they were due: raise preAllocatedVUs/maxVUs, and read the latencies as optimistic (coordinated omission).",
			d, pct(share))
		if len(a.r.Config.Scenarios) > 0 && !a.arrivalRate() {
			msg = fmt.Sprintf("%.0f iterations (%s) were not started before their scenario's time ran out (maxDuration or gracefulStop).", d, pct(share))
		}
		a.add(Finding{Kind: KindCoordinatedOmission, Severity: sev, Target: BlameTest, Metric: loadtest.SeriesDropped,
			Method: "rule", Evidence: ev, Message: msg}, i, j)
		return
	}
	for _, ep := range lateEp {
		m := maxFinite(late[ep.a:ep.b])
		if math.IsNaN(m) {
			continue
		}
		a.add(Finding{Kind: KindCoordinatedOmission, Severity: SeverityMedium, Target: BlameGenerator, Metric: loadtest.SeriesLatenessP99,
			Method: "rule", Evidence: ev,
			Message: fmt.Sprintf("Iterations started up to %s late (p99) for %s: the generator fell behind the arrival-rate schedule, so latencies understate the wait.",
				fmtMs(m), fmtDur(a.at(ep.b)-a.at(ep.a)))}, ep.a, ep.b)
	}
}
