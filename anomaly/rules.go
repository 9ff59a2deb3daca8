package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// rules applies the seed's rules: the run's status, its error rate, its
// p95 latency, and every threshold's verdict.
func (a *analysis) rules() {
	r := a.r
	switch {
	case r.Status == loadtest.StatusErrored:
		msg := "The run errored and did not execute as planned"
		if len(r.IterationErrors) > 0 {
			msg += fmt.Sprintf(": %q (%d times)", r.IterationErrors[0].Message, r.IterationErrors[0].Count)
		}
		a.add(Finding{Kind: KindRunFailed, Severity: SeverityCritical, Target: BlameGenerator, Metric: "status",
			Method: "rule", Evidence: map[string]float64{"duration_s": a.duration().Seconds()}, Message: msg + "."}, -1, -1)
	case r.Status == loadtest.StatusAborted || r.Abort != nil:
		by, reason, after := "unknown", "", a.duration()
		if r.Abort != nil {
			by, reason, after = string(r.Abort.By), r.Abort.Reason, r.Abort.After
		}
		msg := fmt.Sprintf("The run was aborted by %s after %s", by, fmtDur(after))
		if reason != "" {
			msg += ": " + reason
		}
		blame := BlameGenerator
		if r.Abort != nil && r.Abort.By == loadtest.AbortByThreshold {
			blame = BlameTarget
		}
		f := Finding{Kind: KindRunFailed, Severity: SeverityCritical, Target: blame, Metric: "status", Method: "rule",
			Evidence: map[string]float64{"aborted_after_s": after.Seconds()}, Message: msg + "; its numbers cover only part of the plan."}
		a.add(f, -1, -1)
	}

	failed, total := a.failedRequests()
	if total > 0 {
		rate := failed / total
		sev := SeverityNone
		switch {
		case rate > a.o.ErrorRateHigh:
			sev = SeverityHigh
		case rate > a.o.ErrorRateMedium:
			sev = SeverityMedium
		}
		if sev != SeverityNone {
			th := a.o.ErrorRateMedium
			if sev == SeverityHigh {
				th = a.o.ErrorRateHigh
			}
			a.add(Finding{Kind: KindErrorRate, Severity: sev, Target: BlameTarget, Metric: "http_req_failed", Method: "rule",
				Evidence: map[string]float64{"observed": rate, "threshold": th, "failed": failed, "requests": total},
				Message:  fmt.Sprintf("%s of HTTP requests failed (%.0f of %.0f), above the %s limit.", pct(rate), failed, total, pct(th))}, -1, -1)
		}
	}

	if m, ok := r.Metrics["http_req_duration"]; ok {
		p95, ok := m.Percentile(95)
		limit := float64(a.o.LatencyP95) / float64(time.Millisecond)
		if ok && p95 > limit {
			sev := SeverityMedium
			if p95 > 2*limit {
				sev = SeverityHigh
			}
			a.add(Finding{Kind: KindHighLatency, Severity: sev, Target: BlameTarget, Metric: "http_req_duration", Method: "rule",
				Evidence: map[string]float64{"observed_ms": p95, "threshold_ms": limit, "avg_ms": m.Values["avg"]},
				Message:  fmt.Sprintf("HTTP request duration p95 was %s over the run, above %s.", fmtMs(p95), fmtMs(limit))}, -1, -1)
		}
	}

	for _, v := range r.Thresholds {
		switch v.Status {
		case metrics.Failed:
			sev := SeverityHigh
			msg := fmt.Sprintf("Threshold %q on %s failed", v.Threshold.Source, v.Metric)
			ev := map[string]float64{"observed": v.Observed, "bound": v.Threshold.Bound}
			if !math.IsNaN(v.Observed) {
				msg += fmt.Sprintf(": observed %.4g against %g", v.Observed, v.Threshold.Bound)
			}
			if v.Threshold.AbortOnFail {
				ev["abort_on_fail"] = 1
			}
			a.add(Finding{Kind: KindThresholdFailed, Severity: sev, Target: BlameTarget, Metric: v.Metric, Method: "rule",
				Tags: map[string]string{"threshold": v.Threshold.Source}, Evidence: ev, Message: msg + "."}, -1, -1)
		case metrics.NoData:
			a.add(Finding{Kind: KindThresholdNoData, Severity: SeverityLow, Target: BlameTest, Metric: v.Metric, Method: "rule",
				Tags:     map[string]string{"threshold": v.Threshold.Source},
				Evidence: map[string]float64{"bound": v.Threshold.Bound},
				Message:  fmt.Sprintf("Threshold %q on %s had no data: it passed without judging anything; check the metric name and tags.", v.Threshold.Source, v.Metric)}, -1, -1)
		}
	}
}

// failedRequests returns the failed and total HTTP requests of the run:
// from the http_req_failed summary when there is one, else from the
// per-second series.
func (a *analysis) failedRequests() (failed, total float64) {
	if m, ok := a.r.Metrics["http_req_failed"]; ok {
		p, f := m.Values["passes"], m.Values["fails"]
		if p+f > 0 {
			return p, p + f
		}
	}
	reqs, fr := a.series(loadtest.SeriesRequests), a.series(loadtest.SeriesFailedRate)
	for i := range reqs {
		if fr == nil || math.IsNaN(reqs[i]) || math.IsNaN(fr[i]) {
			continue
		}
		total += reqs[i]
		failed += math.Round(reqs[i] * fr[i])
	}
	return failed, total
}
