package loadtest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// Telemetry names the sources of the target's own telemetry — a Prometheus
// endpoint, a process id on this machine — that a run reads while it runs
// (see package telemetry). Its JSON form:
//
//	{"prometheus": "http://127.0.0.1:9100/metrics", "pid": 4242, "interval": "1s",
//	 "timeout": "800ms", "metrics": ["http_requests_total"]}
type Telemetry = telemetry.Config

// TargetHealth summarises the target's own resource use, as its telemetry
// showed it: one entry per source. Its per-second values are the target.*
// series of the Timeline, tagged with the source.
type TargetHealth struct {
	Sources []telemetry.Summary `json:"sources"`
}

// targetWatch reads the target's telemetry during a run and writes it to
// the collector as per-second target.* series tagged {"source": name}.
type targetWatch struct {
	c       *collector
	scraper *telemetry.Scraper
	health  []telemetry.Summary

	mu   sync.Mutex
	errs map[string]errSecond // per source: scrape errors in its latest second
}

type errSecond struct {
	second int64
	n      float64
}

// watchTarget starts reading the target's telemetry, when the plan asks,
// on a goroutine that wg waits for and that ends with ctx.
func (r *run) watchTarget(ctx context.Context, wg *sync.WaitGroup) {
	if r.plan.Telemetry == nil {
		return
	}
	cfg := *r.plan.Telemetry
	cfg.AllowIP = r.plan.Options.allowIP() // a scrape reaches what the run's requests may
	s, err := cfg.Scraper(r.logger)
	if err != nil { // Validate has run: not expected
		r.warn("target telemetry: %v", err)
		return
	}
	r.target = &targetWatch{c: r.coll, scraper: s, errs: map[string]errSecond{}}
	wg.Go(func() { r.target.health = s.Run(ctx, r.target.record) })
}

// finishTarget puts the target's health into the result and warns of
// failed scrapes and missing metrics. It runs after watchTarget's
// goroutine has ended.
func (r *run) finishTarget(res *Result) {
	if r.target == nil {
		return
	}
	res.Target = &TargetHealth{Sources: r.target.health}
	for _, h := range r.target.health {
		if h.Errors > 0 {
			r.warn("target telemetry %s: %d of %d scrapes failed (last: %s)", h.Source, h.Errors, h.Scrapes, h.LastError)
		}
		if len(h.Missing) > 0 {
			r.warn("target telemetry %s: no metric %s", h.Source, strings.Join(h.Missing, ", "))
		}
	}
}

// TargetSeriesName returns the Timeline series name of a telemetry
// metric: one of the SeriesTarget* names for the standard metrics,
// "target.<metric>" for the others.
func TargetSeriesName(metric string) string {
	name, _, _ := targetSeries(metric, "")
	return name
}

// targetSeries returns the series name, unit and scale of a telemetry
// metric whose points come in unit.
func targetSeries(metric, unit string) (string, string, float64) {
	switch metric {
	case telemetry.MetricRSS:
		return SeriesTargetRSS, "bytes", 1
	case telemetry.MetricCPU:
		return SeriesTargetCPU, "%", 100 // CPU seconds per second → % of one CPU
	case telemetry.MetricHeapInuse:
		return SeriesTargetHeap, "bytes", 1
	case telemetry.MetricGoroutines:
		return SeriesTargetGoroutines, "", 1
	}
	return "target." + metric, unit, 1
}

// record writes one scrape's points and its error count; it is called
// from each source's goroutine.
func (w *targetWatch) record(sc telemetry.Scrape) {
	tags := map[string]string{"source": sc.Source}
	for _, p := range sc.Points {
		name, unit, scale := targetSeries(p.Metric, p.Unit)
		w.c.setGauge(p.Time, name, tags, unit, p.Value*scale)
	}
	w.c.setGauge(sc.Time, SeriesTargetScrapeErr, tags, "1/s", w.countError(sc))
}

// countError returns the failed scrapes of sc's source in sc's second,
// sc included.
func (w *targetWatch) countError(sc telemetry.Scrape) float64 {
	sec := max(int64(sc.Time.Sub(w.c.start)/time.Second), 0)
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.errs[sc.Source]
	if e.second != sec {
		e = errSecond{second: sec}
	}
	if sc.Err != nil {
		e.n++
	}
	w.errs[sc.Source] = e
	return e.n
}
