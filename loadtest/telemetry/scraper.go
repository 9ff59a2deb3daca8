package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// The standard metrics every source is read for. The process metrics are
// what Prometheus client libraries export in every language; the Go ones
// are read when present.
const (
	// MetricRSS is the resident memory in bytes (a gauge).
	MetricRSS = "process_resident_memory_bytes"
	// MetricCPU is the CPU time used in seconds (a counter); its rate times
	// 100 is the CPU use in % of one CPU.
	MetricCPU = "process_cpu_seconds_total"
	// MetricHeapInuse is the Go heap in use in bytes (a gauge).
	MetricHeapInuse = "go_memstats_heap_inuse_bytes"
	// MetricGoroutines is the number of goroutines (a gauge).
	MetricGoroutines = "go_goroutines"
)

// StandardMetrics returns the names of the standard metrics.
func StandardMetrics() []string {
	return []string{MetricRSS, MetricCPU, MetricHeapInuse, MetricGoroutines}
}

// Source is where a target's telemetry is read.
type Source interface {
	// Name identifies the source in summaries and series tags: a URL
	// without its password, "pid:N".
	Name() string
	// Read takes one reading; ctx bounds it.
	Read(ctx context.Context) (Reading, error)
}

// Kind says how a Point's value was derived from a metric.
type Kind uint8

// Kinds of points.
const (
	// KindGauge is a gauge's (or an untyped metric's) value as read.
	KindGauge Kind = iota
	// KindRate is a counter's increase per second between two scrapes; a
	// counter that went down was reset, and its increase is its new value.
	KindRate
	// KindMean is the mean of a histogram's or summary's observations
	// between two scrapes; there is no point when there were none.
	KindMean
)

// String returns "gauge", "rate" or "mean".
func (k Kind) String() string {
	switch k {
	case KindRate:
		return "rate"
	case KindMean:
		return "mean"
	}
	return "gauge"
}

// Point is one value a scrape yielded.
type Point struct {
	// Metric is the metric name as asked for (a standard one or one of
	// Scraper.Metrics).
	Metric string
	Kind   Kind
	// Unit is guessed from the name's suffix: "bytes", "s" or "" for gauges
	// and means; that unit per second for rates ("bytes/s", "s/s", "1/s").
	Unit  string
	Value float64
	// Time is when the scrape began for gauges, and the middle between the
	// two scrapes for rates and means.
	Time time.Time
}

// Scrape is the outcome of one scrape of one source. A failed scrape has
// Err set and no points.
type Scrape struct {
	Source   string
	Time     time.Time     // when the scrape began
	Duration time.Duration // how long it took
	Points   []Point
	Err      error
}

// Summary describes one source over a whole Run. Values that were never
// read are 0.
type Summary struct {
	Source  string `json:"source"`
	Scrapes int64  `json:"scrapes"` // attempted
	Errors  int64  `json:"errors"`  // failed, time-outs included
	// LastError is the message of the latest failed scrape.
	LastError string `json:"last_error,omitempty"`
	// CPUAvgPct and CPUMaxPct are the target's CPU use in % of one CPU
	// (above 100 on several CPUs): the mean and the highest of the
	// per-interval values.
	CPUAvgPct float64 `json:"cpu_avg_pct,omitempty"`
	CPUMaxPct float64 `json:"cpu_max_pct,omitempty"`
	// RSSFirstBytes, RSSLastBytes and RSSMaxBytes are the first, last and
	// highest resident memory read.
	RSSFirstBytes float64 `json:"rss_first_bytes,omitempty"`
	RSSLastBytes  float64 `json:"rss_last_bytes,omitempty"`
	RSSMaxBytes   float64 `json:"rss_max_bytes,omitempty"`
	// HeapInuseMaxBytes is the highest Go heap in use read.
	HeapInuseMaxBytes float64 `json:"heap_inuse_max_bytes,omitempty"`
	// GoroutinesMax is the highest goroutine count read.
	GoroutinesMax float64 `json:"goroutines_max,omitempty"`
	// Missing lists the process metrics and the asked-for metrics that no
	// successful scrape had (the Go metrics are optional).
	Missing []string `json:"missing,omitempty"`
}

// Scraper reads sources on a schedule. Its fields are plain
// configuration; zero values take the documented defaults. A Scraper may
// Run several times, also at once.
type Scraper struct {
	// Sources are the sources read, each on its own goroutine.
	Sources []Source
	// Interval is the time between two scrapes of a source; default
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds one scrape; default 80 % of the interval, at most
	// MaxDefaultTimeout.
	Timeout time.Duration
	// Metrics are read besides the standard metrics (see Config.Metrics).
	// A source that says which metrics it has (a Metrics() []string
	// method, as Process) is read for those only.
	Metrics []string
	// Logger receives a warning when a source starts failing and a note
	// when it recovers; nil discards them.
	Logger *slog.Logger
}

// Run scrapes every source at once, then once per interval, until ctx
// ends, and returns a Summary per source in the order of Sources. Each
// scrape goes to emit as it completes: from the source's own goroutine,
// so calls for different sources may run concurrently, and a slow emit
// delays only its source. A scrape that ctx's end interrupts is dropped.
// A source whose Read fails with errors.ErrUnsupported is not read again.
// Run returns after all its goroutines have ended.
func (s *Scraper) Run(ctx context.Context, emit func(Scrape)) []Summary {
	out := make([]Summary, len(s.Sources))
	var wg sync.WaitGroup
	for i, src := range s.Sources {
		wg.Go(func() { out[i] = s.runSource(ctx, src, emit) })
	}
	wg.Wait()
	return out
}

func (s *Scraper) interval() time.Duration {
	if s.Interval <= 0 {
		return DefaultInterval
	}
	return s.Interval
}

func (s *Scraper) timeout() time.Duration {
	if s.Timeout <= 0 {
		return defaultTimeout(s.interval())
	}
	return s.Timeout
}

func (s *Scraper) runSource(ctx context.Context, src Source, emit func(Scrape)) Summary {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := newDeriver(src, s.Metrics)
	timeout := s.timeout()
	var failing string
	// scrape reads the source once and reports whether to stop.
	scrape := func() bool {
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		rd, err := src.Read(sctx)
		cancel()
		if ctx.Err() != nil {
			return true
		}
		sc := Scrape{Source: d.sum.Source, Time: start, Duration: time.Since(start)}
		d.sum.Scrapes++
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("timed out after %s: %w", timeout, err)
			}
			sc.Err = err
			d.sum.Errors++
			d.sum.LastError = err.Error()
			if failing == "" {
				logger.Warn("target telemetry scrape failed", "source", d.sum.Source, "err", err)
			}
			failing = err.Error()
			emit(sc)
			return errors.Is(err, errors.ErrUnsupported)
		}
		if failing != "" {
			logger.Info("target telemetry scrape recovered", "source", d.sum.Source)
			failing = ""
		}
		sc.Points = d.derive(start, rd)
		emit(sc)
		return false
	}
	t := time.NewTicker(s.interval()) // before the first scrape: ticks keep to Run's start
	defer t.Stop()
	if !scrape() {
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				if scrape() {
					break loop
				}
			}
		}
	}
	return d.summary()
}

// deriver turns one source's successive readings into points.
type deriver struct {
	names  []string
	prev   map[string]previous
	seen   map[string]bool
	sum    Summary
	cpuSum float64
	cpuN   int
}

type previous struct {
	t            time.Time
	typ          Type
	value, count float64
}

func newDeriver(src Source, extra []string) *deriver {
	names := StandardMetrics()
	if p, ok := src.(interface{ Metrics() []string }); ok {
		names = p.Metrics()
	} else {
		for _, n := range extra {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return &deriver{names: names, prev: map[string]previous{}, seen: map[string]bool{},
		sum: Summary{Source: src.Name()}}
}

func (d *deriver) derive(t time.Time, rd Reading) []Point {
	var out []Point
	for _, name := range d.names {
		v, ok := rd.Lookup(name)
		if !ok {
			continue
		}
		d.seen[name] = true
		p, ok := d.point(name, t, v)
		if !ok || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		out = append(out, p)
		d.note(p)
	}
	return out
}

// point derives the point of metric name from its value v read at t.
func (d *deriver) point(name string, t time.Time, v Value) (Point, bool) {
	base := unitOf(name)
	if v.Type == TypeGauge || v.Type == TypeUntyped {
		return Point{Metric: name, Kind: KindGauge, Unit: base, Value: v.Value, Time: t}, true
	}
	prev, had := d.prev[name]
	d.prev[name] = previous{t: t, typ: v.Type, value: v.Value, count: v.Count}
	dt := t.Sub(prev.t).Seconds()
	if !had || prev.typ != v.Type || dt <= 0 {
		return Point{}, false
	}
	mid := prev.t.Add(t.Sub(prev.t) / 2)
	if v.Type == TypeCounter {
		inc := v.Value - prev.value
		if inc < 0 {
			inc = v.Value // reset: counted again from 0
		}
		if base == "" {
			base = "1"
		}
		return Point{Metric: name, Kind: KindRate, Unit: base + "/s", Value: inc / dt, Time: mid}, true
	}
	dc, ds := v.Count-prev.count, v.Value-prev.value
	if dc < 0 {
		dc, ds = v.Count, v.Value
	}
	if dc <= 0 {
		return Point{}, false
	}
	return Point{Metric: name, Kind: KindMean, Unit: base, Value: ds / dc, Time: mid}, true
}

// note folds a point into the summary.
func (d *deriver) note(p Point) {
	switch p.Metric {
	case MetricRSS:
		if d.sum.RSSFirstBytes == 0 {
			d.sum.RSSFirstBytes = p.Value
		}
		d.sum.RSSLastBytes = p.Value
		d.sum.RSSMaxBytes = max(d.sum.RSSMaxBytes, p.Value)
	case MetricCPU:
		pct := 100 * p.Value
		d.cpuSum += pct
		d.cpuN++
		d.sum.CPUMaxPct = max(d.sum.CPUMaxPct, pct)
	case MetricHeapInuse:
		d.sum.HeapInuseMaxBytes = max(d.sum.HeapInuseMaxBytes, p.Value)
	case MetricGoroutines:
		d.sum.GoroutinesMax = max(d.sum.GoroutinesMax, p.Value)
	}
}

func (d *deriver) summary() Summary {
	s := d.sum
	if d.cpuN > 0 {
		s.CPUAvgPct = d.cpuSum / float64(d.cpuN)
	}
	if s.Scrapes > s.Errors {
		for _, n := range d.names {
			if !d.seen[n] && n != MetricHeapInuse && n != MetricGoroutines {
				s.Missing = append(s.Missing, n)
			}
		}
	}
	return s
}

// unitOf guesses a metric's unit from its name, as Prometheus names them:
// "bytes" for _bytes, "s" for _seconds, else "".
func unitOf(name string) string {
	name = strings.TrimSuffix(strings.TrimSuffix(name, "_total"), "_sum")
	switch {
	case strings.HasSuffix(name, "_bytes"):
		return "bytes"
	case strings.HasSuffix(name, "_seconds"):
		return "s"
	}
	return ""
}
