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
	maxMs  float64
	reqs   float64 // completed in the stall's seconds (the lower of it and the one before)
	usualR float64 // completed in the seconds around it
}

// stalls reports repeated all-request stalls: three or more, with their
// period when they recur regularly.
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
	th := max(4*usual, usual+150)
	load := a.loadLevels()
	spike := make([]bool, a.n)
	for i := 1; i < a.n-1; i++ { // the first and last seconds are partial
		spike[i] = mx[i] >= th
	}
	var events []stallEvent
	for i := 1; i < a.n-1; i++ {
		if !spike[i] {
			continue
		}
		// Three spikes in a row are sustained: a step, not a stall.
		runLen := 1
		for j := i - 1; j >= 0 && spike[j]; j-- {
			runLen++
		}
		for j := i + 1; j < a.n && spike[j]; j++ {
			runLen++
		}
		if runLen >= 3 {
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
		events = append(events, stallEvent{at: at, maxMs: mx[i], reqs: low, usualR: usualR})
	}
	// Stalls come in clusters; lone slow seconds minutes apart are noise.
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
	events = best
	if len(events) < 3 {
		return
	}
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
	lead := fmt.Sprintf("%d times between %s and %s, all requests stalled", len(events), fmtSec(a.at(first.at)), fmtSec(a.at(last.at+1)))
	if regular {
		ev["period_s"] = period
		lead = fmt.Sprintf("every %.1f s from %s to %s (%d times), all requests stalled", period, fmtSec(a.at(first.at)), fmtSec(a.at(last.at+1)), len(events))
	}
	sev := SeverityMedium
	if length >= 1000 || length >= 20*typical && length >= 500 {
		sev = SeverityHigh
	}
	a.claims = append(a.claims, claim{a: first.at, b: last.at + 2, family: "stall"})
	a.add(Finding{Kind: KindLatencyStall, Severity: sev, Target: BlameTarget, Metric: loadtest.SeriesLatencyMax,
		Method: "stall-screen", Evidence: ev,
		Message: fmt.Sprintf("%s: they waited up to %s (the slowest request took %s against a usual p95 of %s) and requests/s fell to %.0f from %.0f in those seconds, as a pause of the whole service (GC, a lock, a blocked event loop) does.",
			upperFirst(lead), fmtMs(length), fmtMs(worst), fmtMs(usual), median(lows), median(usuals))}, first.at, last.at+2)
}
