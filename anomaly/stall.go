package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// Stalls: all requests waiting together for a moment, again and again — a
// stop-the-world pause, a lock convoy, a blocked event loop. In the
// per-second series a stall is a second whose slowest request took many
// times the usual p95 while fewer requests completed than around it
// (every request waited, not one). Stalls last a second or two at most;
// latency high for three seconds in a row is a step, for the screen.

// maxStallGap is the longest time between two stalls of one episode.
const maxStallGap = 20 * time.Second

// stallEvent is one stall: the second its stalled requests completed in.
type stallEvent struct {
	at     int
	sec    int // the second whose slowest requests were the stalled ones
	maxMs  float64
	reqs   float64 // completed in the stall's seconds (the lower of it and the one before)
	usualR float64 // completed in the seconds around it
}

// stallThreshold is how slow a second's slowest requests must be, against
// the usual p95, for the second to hold a stall.
func stallThreshold(usual float64) float64 { return max(4*usual, usual+150) }

// isolatedSpike reports whether the spike at i is part of a run of fewer
// than three spikes (three in a row are sustained: a step, not a stall)
// after which latency came back: the first second after the run is below
// half the threshold (a step's seconds between two slow maxima are not;
// at the run's end, nothing says it came back).
func isolatedSpike(spike []bool, p95 []float64, i int, th float64) bool {
	runLen, j := 1, i+1
	for k := i - 1; k >= 0 && spike[k]; k-- {
		runLen++
	}
	for ; j < len(spike) && spike[j]; j++ {
		runLen++
	}
	return runLen < 3 && j < len(spike)-1 && !(p95[j] >= th/2)
}

// stalls reports repeated all-request stalls: three or more, with their
// period when they recur regularly. Stalls of the whole service are found
// on the overall series and named after the endpoint whose latency alone
// stalled, when one did; stalls of one endpoint of several (the others
// served as usual) on that endpoint's p95.
func (a *analysis) stalls() {
	mx, p95, p50 := a.series(loadtest.SeriesLatencyMax), a.series(loadtest.SeriesLatencyP95), a.series(loadtest.SeriesLatencyP50)
	reqs := a.series(loadtest.SeriesRequests)
	if mx == nil || p95 == nil || reqs == nil || a.n < 8 {
		return
	}
	usual := median(finite(p95[1:]))
	typical := median(finite(p50[1:]))
	if !(usual > 0) || !(typical > 0) {
		return
	}
	th := stallThreshold(usual)
	load := a.loadLevels()
	spike := make([]bool, a.n)
	for i := 1; i < a.n-1; i++ { // the first and last seconds are partial
		spike[i] = mx[i] >= th
	}
	var events []stallEvent
	for i := 1; i < a.n-1; i++ {
		if !spike[i] || !isolatedSpike(spike, p95, i, th) {
			continue
		}
		// Every request waited, not one: most of the second's requests
		// were slow (its median many times the usual), or fewer completed
		// than usual (the upper quartile of the seconds around it without
		// a spike), beyond Poisson noise.
		// While the load ramps, the seconds around are scaled to this
		// one's load.
		scale := func(j int) float64 {
			if load == nil || !(load[j] > 0) || !(load[i] > 0) {
				return 1
			}
			return load[i] / load[j]
		}
		var around []float64
		for j := max(1, i-10); j < min(a.n-1, i+11); j++ {
			if !spike[j] && reqs[j] > 0 {
				around = append(around, reqs[j]*scale(j))
			}
		}
		usualR := quantile(around, 0.75)
		low := min(reqs[i], reqs[i-1]*scale(i-1))
		dip := len(around) >= 3 && low <= 0.85*usualR && low <= usualR-3*math.Sqrt(usualR)
		if !dip && !(p50[i] >= 3*typical) {
			continue
		}
		at := i
		if reqs[i-1] < reqs[i] {
			at = i - 1 // the stall began in the second before its requests completed
		}
		events = append(events, stallEvent{at: at, sec: i, maxMs: mx[i], reqs: low, usualR: usualR})
	}
	_, endpoints := a.latencyChannels()
	if events = a.stallCluster(events); len(events) >= 3 {
		a.reportStalls(events, a.stalledEndpoint(events, endpoints), usual, typical, true)
		return
	}
	if len(endpoints) < 2 {
		return
	}
	// Each endpoint's usual p95, stall threshold and stalled seconds.
	usuals, ths := make([]float64, len(endpoints)), make([]float64, len(endpoints))
	spikes := make([][]bool, len(endpoints))
	for k, ch := range endpoints {
		if usuals[k] = median(finite(ch.x[1:])); !(usuals[k] > 0) {
			return
		}
		ths[k] = stallThreshold(usuals[k])
		spikes[k] = make([]bool, a.n)
		for i := 1; i < a.n-1; i++ {
			spikes[k][i] = ch.x[i] >= ths[k]
		}
	}
	for e := range endpoints {
		if evs := a.stallCluster(a.endpointStalls(endpoints, spikes, ths, e, p95, th)); len(evs) >= 3 {
			a.reportStalls(evs, endpoints[e].tags, usuals[e], typical, false)
		}
	}
}

// endpointStalls returns the stalls of endpoint e alone: seconds whose p95
// on e passed e's stall threshold (ths, spikes: each endpoint's), isolated and followed by its usual
// latency, while no other endpoint's did, and the overall p95 passed the
// run's threshold (enough requests waited, not one).
func (a *analysis) endpointStalls(endpoints []channel, spikes [][]bool, ths []float64, e int, p95 []float64, th float64) []stallEvent {
	x, reqs := endpoints[e].x, endpoints[e].reqs
	var out []stallEvent
	for i := 1; i < a.n-1; i++ {
		if !spikes[e][i] || !isolatedSpike(spikes[e], x, i, ths[e]) || !(p95[i] >= th) {
			continue
		}
		alone := true
		for k := range endpoints {
			alone = alone && (k == e || !spikes[k][i])
		}
		if !alone {
			continue
		}
		ev := stallEvent{at: i, sec: i, maxMs: x[i]}
		if reqs != nil {
			var around []float64
			for j := max(1, i-10); j < min(a.n-1, i+11); j++ {
				if !spikes[e][j] && reqs[j] > 0 {
					around = append(around, reqs[j])
				}
			}
			ev.reqs, ev.usualR = min(reqs[i], reqs[i-1]), quantile(around, 0.75)
			if reqs[i-1] < reqs[i] {
				ev.at = i - 1
			}
		}
		out = append(out, ev)
	}
	return out
}

// stalledEndpoint returns the name tag of the endpoint whose p95 alone
// stalled: in two seconds of the episode or more, while every other
// endpoint's did in a quarter as many or fewer. Nil otherwise. A p95 sees
// a stall only when 5 % of the second's requests waited: with looping VUs,
// a stalled endpoint holds one request per VU, so not every stall shows on
// it. The episode runs from its first stall to a period after its last
// (a stall in the run's last seconds is not an event: nothing says
// latency came back, but it shows who stalled).
func (a *analysis) stalledEndpoint(events []stallEvent, endpoints []channel) map[string]string {
	if len(endpoints) < 2 {
		return nil
	}
	first, last := events[0], events[len(events)-1]
	gap := (last.at - first.at) / max(1, len(events)-1)
	from, to := max(1, first.at), min(a.n-1, last.sec+1+gap)
	hits := make([]int, len(endpoints))
	best := 0
	for k, ch := range endpoints {
		usual := median(finite(ch.x[1:]))
		if !(usual > 0) {
			return nil
		}
		th := stallThreshold(usual)
		for i := from; i < to; i++ {
			if ch.x[i] >= th {
				hits[k]++
			}
		}
		if hits[k] > hits[best] {
			best = k
		}
	}
	if hits[best] < 2 {
		return nil
	}
	for k, h := range hits {
		if k != best && 4*h > hits[best] {
			return nil
		}
	}
	return endpoints[best].tags
}

// stallCluster returns the largest cluster of events (stalls come in
// clusters; lone slow seconds minutes apart are noise).
func (a *analysis) stallCluster(events []stallEvent) []stallEvent {
	var best []stallEvent
	for k := 0; k < len(events); {
		j := k + 1
		for j < len(events) && events[j].at-events[j-1].at <= a.points(maxStallGap) {
			j++
		}
		if j-k > len(best) {
			best = events[k:j]
		}
		k = j
	}
	return best
}

// reportStalls reports a cluster of stalls, of one endpoint when tags
// names it; overall says the events' slowest times are the run's maxima
// (else the endpoint's p95).
func (a *analysis) reportStalls(events []stallEvent, tags map[string]string, usual, typical float64, overall bool) {
	first, last := events[0], events[len(events)-1]
	span := a.at(last.at) - a.at(first.at)
	period := span.Seconds() / float64(len(events)-1)
	regular := true
	for k := 1; k < len(events); k++ {
		d := (a.at(events[k].at) - a.at(events[k-1].at)).Seconds()
		if math.Abs(d-period) > max(1.01, 0.25*period) {
			regular = false
		}
	}
	var maxes, lows, usuals []float64
	for _, e := range events {
		maxes, lows, usuals = append(maxes, e.maxMs), append(lows, e.reqs), append(usuals, e.usualR)
	}
	worst := median(maxes)
	length := max(0, worst-typical)
	ev := map[string]float64{"stalls": float64(len(events)), "stall_ms": length, "max_ms": worst, "usual_p95_ms": usual,
		"rps_during": median(lows), "rps_usual": median(usuals)}
	who, slowest, as := "all requests", "the slowest request took", "as a pause of the whole service (GC, a lock, a blocked event loop) does"
	if tags != nil {
		who = "all requests to " + tags["name"]
		if !overall {
			slowest = "its p95 reached"
		}
		as = "as a pause of what serves it (a lock, a pool, a downstream call) does"
		ev["endpoint_stalls"] = float64(len(events))
	}
	lead := fmt.Sprintf("%d times between %s and %s, %s stalled", len(events), fmtSec(a.at(first.at)), fmtSec(a.at(last.at+1)), who)
	if regular {
		ev["period_s"] = period
		lead = fmt.Sprintf("every %.1f s from %s to %s (%d times), %s stalled", period, fmtSec(a.at(first.at)), fmtSec(a.at(last.at+1)), len(events), who)
	}
	sev := SeverityMedium
	if length >= 1000 || length >= 20*typical && length >= 500 {
		sev = SeverityHigh
	}
	rps := ""
	if median(usuals) > 0 {
		rps = fmt.Sprintf(" and requests/s fell to %.0f from %.0f in those seconds", median(lows), median(usuals))
	}
	a.claims = append(a.claims, claim{a: first.at, b: last.at + 2, family: "stall"})
	a.add(Finding{Kind: KindLatencyStall, Severity: sev, Target: BlameTarget, Metric: loadtest.SeriesLatencyMax, Tags: tags,
		Method: "stall-screen", Evidence: ev,
		Message: fmt.Sprintf("%s: they waited up to %s (%s %s against a usual p95 of %s)%s, %s.",
			upperFirst(lead), fmtMs(length), slowest, fmtMs(worst), fmtMs(usual), rps, as)}, first.at, last.at+2)
}
