package loadtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Partial is a mergeable share of what a run measured: everything one
// generator aggregated since its previous Partial — the sinks behind the
// summary and thresholds (trends as DDSketch histograms, never
// percentiles), the per-second bins of the timeline, per-endpoint stats,
// checks, iteration errors — and its current scenario progress and
// health. Merging the Partials of every generator of a distributed run
// gives the Result one process running the whole plan would give, within
// the trend sketches' [metrics.TrendAccuracy].
//
// A Partial is not safe for concurrent use; it is read-only once built.
// MarshalBinary and UnmarshalBinary carry it between processes.
type Partial struct {
	coll      *collector
	errs      map[string]int64
	scenarios []scenarios.Progress
	generator GeneratorHealth
}

// PartialReceiver is an optional interface of an [Output]: it receives a
// [Partial] every second, and a last one after the run's last sample. A
// run with such an output aggregates per interval and folds each interval
// into its own Result as well; a generator of a distributed run ships
// them to its coordinator.
type PartialReceiver interface {
	Partial(*Partial)
}

// Requests returns how many HTTP requests the partial counts.
func (p *Partial) Requests() int64 { return p.coll.requests }

// Scenarios returns the generator's scenario progress when the partial
// was taken.
func (p *Partial) Scenarios() []scenarios.Progress { return p.scenarios }

// take moves what c holds into a new collector and leaves c empty, with
// fresh totals tracking keys.
func (c *collector) take(keys []string) (*collector, error) {
	fresh, err := metrics.NewTotals(keys...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &collector{start: c.start, m: c.m, totals: c.totals, open: keepOpen, bins: c.bins,
		endpoints: c.endpoints, endpointOrder: c.endpointOrder, seriesIdx: map[string]*Series{},
		seriesNames: c.seriesNames, distinctNames: c.distinctNames, root: c.root,
		requests: c.requests, failedRequests: c.failedRequests}
	c.totals, c.bins = fresh, map[int64]*bin{}
	c.endpoints, c.endpointOrder = map[endpointKey]*endpointAgg{}, nil
	c.seriesNames, c.distinctNames = map[string]bool{}, map[string]struct{}{}
	c.root = groupNode{}
	c.requests, c.failedRequests = 0, 0
	return out, nil
}

// sketchPastExact turns the trends of c (a partial's collector, already
// merged into run, the generator's whole run) into sketches where run's
// are past [metrics.TrendExactLimit]: the coordinator, which merged every
// earlier partial of this generator, holds sketches there too, so the
// merged Result is the same, and a partial of a generator at a thousand
// requests a second is a few kB instead of a hundred.
func (c *collector) sketchPastExact(run *collector) {
	pastExact := func(t *metrics.TrendSink) bool { return t != nil && t.Count() > metrics.TrendExactLimit }
	var keys []string
	for _, m := range c.totals.Metrics() {
		keys = append(keys, m.Name)
	}
	for _, sm := range c.totals.Submetrics() {
		keys = append(keys, sm.Name)
	}
	run.totals.View(func(runSinks metrics.SinkSource) {
		c.totals.View(func(sinks metrics.SinkSource) {
			for _, key := range keys {
				t, ok := sinks.Sink(key).(*metrics.TrendSink)
				if rt, _ := runSinks.Sink(key).(*metrics.TrendSink); ok && pastExact(rt) {
					t.Sketch()
				}
			}
		})
	})
	run.mu.Lock()
	defer run.mu.Unlock()
	for key, ep := range c.endpoints {
		if rep := run.endpoints[key]; rep != nil && pastExact(rep.duration) {
			ep.duration.Sketch()
		}
	}
}

// merge folds the bins, endpoints, groups and checks of o (a partial's
// collector, not shared) into c; totals are merged by the caller.
func (c *collector) merge(o *collector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ob := range o.bins {
		c.mergeBin(c.binAt(i), ob)
	}
	c.requests += o.requests
	c.failedRequests += o.failedRequests
	for _, key := range o.endpointOrder {
		oe := o.endpoints[key]
		ep := c.endpoint(key.name, key.method)
		ep.requests += oe.requests
		ep.failed += oe.failed
		_ = ep.duration.Merge(oe.duration) // both trends
		for k, n := range oe.statuses {
			ep.statuses[k] += n
		}
		for k, n := range oe.errors {
			ep.errors[k] += n
		}
	}
	for name := range o.distinctNames {
		if len(c.distinctNames) < distinctNamesCap {
			c.distinctNames[name] = struct{}{}
		}
	}
	var walk func(g *groupNode)
	walk = func(g *groupNode) {
		c.group(g.path)
		for _, ck := range g.checks {
			mine := c.check(g.path, ck.name)
			mine.passes += ck.passes
			mine.fails += ck.fails
		}
		for _, sub := range g.groups {
			walk(sub)
		}
	}
	walk(&o.root)
}

func (c *collector) mergeBin(b, o *bin) {
	b.reqs += o.reqs
	b.failed += o.failed
	b.failedN += o.failedN
	b.dur = mergeTrend(b.dur, o.dur)
	b.lateness = mergeTrend(b.lateness, o.lateness)
	b.iterations += o.iterations
	b.dropped += o.dropped
	b.checksFail += o.checksFail
	b.checksN += o.checksN
	b.sent += o.sent
	b.recv += o.recv
	if c.sumVUs {
		b.vus, b.vusMax = nanSum(b.vus, o.vus), nanSum(b.vusMax, o.vusMax)
	} else {
		b.vus, b.vusMax = latest(b.vus, o.vus), latest(b.vusMax, o.vusMax)
	}
	// The busiest generator is the one that tells whether load generation
	// was the bottleneck.
	b.genCPU, b.genRSS = nanMax(b.genCPU, o.genCPU), nanMax(b.genRSS, o.genRSS)
	for key, os := range o.slices {
		sb := c.sliceBin(b, key)
		if sb == nil {
			continue
		}
		sb.merge(os)
	}
	for name, oc := range o.custom {
		cb := c.customBin(b, name, oc.typ, oc.contains)
		if cb == nil {
			continue
		}
		cb.sum += oc.sum
		cb.n += oc.n
		cb.nz += oc.nz
		cb.last = latest(cb.last, oc.last)
		cb.trend = mergeTrend(cb.trend, oc.trend)
	}
	for name, oe := range o.endpoints {
		eb := c.endpointBin(b, name)
		if eb == nil {
			continue
		}
		eb.merge(oe)
	}
	if len(o.gauges) > 0 && b.gauges == nil {
		b.gauges = make(map[string]gaugeValue)
	}
	maps.Copy(b.gauges, o.gauges)
}

// merge adds o's second of requests to b's.
func (b *endpointBin) merge(o *endpointBin) {
	b.reqs += o.reqs
	b.failed += o.failed
	b.failedN += o.failedN
	b.dur = mergeTrend(b.dur, o.dur)
}

func mergeTrend(into, o *metrics.TrendSink) *metrics.TrendSink {
	if o == nil {
		return into
	}
	if into == nil {
		into = metrics.NewTrendSink()
	}
	_ = into.Merge(o) // both trends
	return into
}

func nanSum(a, b float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return a + b
}

func nanMax(a, b float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return math.Max(a, b)
}

func latest(a, b float64) float64 {
	if math.IsNaN(b) {
		return a
	}
	return b
}

// The wire form of a Partial.
type partialWire struct {
	Start     time.Time            `json:"start"`
	Totals    *metrics.Totals      `json:"totals"`
	Seconds   []secondWire         `json:"seconds,omitempty"`
	Endpoints []endpointWire       `json:"endpoints,omitempty"`
	Groups    []string             `json:"groups,omitempty"` // paths, in the order they appeared
	Checks    []checkWire          `json:"checks,omitempty"`
	Names     []string             `json:"names,omitempty"`
	Requests  int64                `json:"requests"`
	Failed    int64                `json:"failed"`
	Errors    map[string]int64     `json:"errors,omitempty"`
	Scenarios []scenarios.Progress `json:"scenarios,omitempty"`
	Generator GeneratorHealth      `json:"generator"`
}

type secondWire struct {
	I          int64                      `json:"i"`
	Reqs       float64                    `json:"reqs,omitempty"`
	Failed     float64                    `json:"failed,omitempty"`
	FailedN    float64                    `json:"failed_n,omitempty"`
	Dur        *metrics.TrendSink         `json:"dur,omitempty"`
	Lateness   *metrics.TrendSink         `json:"lateness,omitempty"`
	Iterations float64                    `json:"iterations,omitempty"`
	Dropped    float64                    `json:"dropped,omitempty"`
	ChecksFail float64                    `json:"checks_fail,omitempty"`
	ChecksN    float64                    `json:"checks_n,omitempty"`
	Sent       float64                    `json:"sent,omitempty"`
	Recv       float64                    `json:"recv,omitempty"`
	VUs        *float64                   `json:"vus,omitempty"` // nil: no value that second
	VUsMax     *float64                   `json:"vus_max,omitempty"`
	GenCPU     *float64                   `json:"gen_cpu,omitempty"`
	GenRSS     *float64                   `json:"gen_rss,omitempty"`
	Endpoints  map[string]endpointBinWire `json:"endpoints,omitempty"`
	Slices     []sliceBinWire             `json:"slices,omitempty"`
	Custom     map[string]customBinWire   `json:"custom,omitempty"`
	Gauges     map[string]gaugeValueWire  `json:"gauges,omitempty"`
}

type endpointBinWire struct {
	Reqs    float64            `json:"reqs,omitempty"`
	Failed  float64            `json:"failed,omitempty"`
	FailedN float64            `json:"failed_n,omitempty"`
	Dur     *metrics.TrendSink `json:"dur,omitempty"`
}

type sliceBinWire struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
	endpointBinWire
}

type customBinWire struct {
	Type     metrics.MetricType `json:"type"`
	Contains metrics.ValueType  `json:"contains"`
	Sum      float64            `json:"sum,omitempty"`
	N        float64            `json:"n"`
	NZ       float64            `json:"nz,omitempty"`
	Last     float64            `json:"last"`
	Trend    *metrics.TrendSink `json:"trend,omitempty"`
}

type gaugeValueWire struct {
	Name  string            `json:"name"`
	Tags  map[string]string `json:"tags,omitempty"`
	Unit  string            `json:"unit,omitempty"`
	Value float64           `json:"value"`
}

type endpointWire struct {
	Name     string             `json:"name"`
	Method   string             `json:"method,omitempty"`
	Requests int64              `json:"requests"`
	Failed   int64              `json:"failed"`
	Duration *metrics.TrendSink `json:"duration"`
	Statuses map[string]int64   `json:"statuses,omitempty"`
	Errors   map[string]int64   `json:"errors,omitempty"`
}

type checkWire struct {
	Group  string `json:"group"`
	Name   string `json:"name"`
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}

func optNaN(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func fromOpt(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// MarshalBinary encodes the partial for another process.
func (p *Partial) MarshalBinary() ([]byte, error) {
	c := p.coll
	w := partialWire{Start: c.start, Totals: c.totals, Requests: c.requests, Failed: c.failedRequests,
		Errors: p.errs, Scenarios: p.scenarios, Generator: p.generator}
	for i, b := range c.bins {
		s := secondWire{I: i, Reqs: b.reqs, Failed: b.failed, FailedN: b.failedN, Dur: b.dur, Lateness: b.lateness,
			Iterations: b.iterations, Dropped: b.dropped, ChecksFail: b.checksFail, ChecksN: b.checksN,
			Sent: b.sent, Recv: b.recv, VUs: optNaN(b.vus), VUsMax: optNaN(b.vusMax),
			GenCPU: optNaN(b.genCPU), GenRSS: optNaN(b.genRSS)}
		if len(b.endpoints) > 0 {
			s.Endpoints = map[string]endpointBinWire{}
			for name, eb := range b.endpoints {
				s.Endpoints[name] = endpointBinWire{eb.reqs, eb.failed, eb.failedN, eb.dur}
			}
		}
		for key, sb := range b.slices {
			s.Slices = append(s.Slices, sliceBinWire{key.tag, key.value, endpointBinWire{sb.reqs, sb.failed, sb.failedN, sb.dur}})
		}
		if len(b.custom) > 0 {
			s.Custom = map[string]customBinWire{}
			for name, cb := range b.custom {
				s.Custom[name] = customBinWire{cb.typ, cb.contains, cb.sum, cb.n, cb.nz, cb.last, cb.trend}
			}
		}
		if len(b.gauges) > 0 {
			s.Gauges = map[string]gaugeValueWire{}
			for k, g := range b.gauges {
				s.Gauges[k] = gaugeValueWire{g.name, g.tags, g.unit, g.value}
			}
		}
		w.Seconds = append(w.Seconds, s)
	}
	for _, key := range c.endpointOrder {
		ep := c.endpoints[key]
		w.Endpoints = append(w.Endpoints, endpointWire{key.name, key.method, ep.requests, ep.failed, ep.duration,
			ep.statuses, ep.errors})
	}
	for name := range c.distinctNames {
		w.Names = append(w.Names, name)
	}
	var walk func(g *groupNode)
	walk = func(g *groupNode) {
		w.Groups = append(w.Groups, g.path)
		for _, ck := range g.checks {
			w.Checks = append(w.Checks, checkWire{g.path, ck.name, ck.passes, ck.fails})
		}
		for _, sub := range g.groups {
			walk(sub)
		}
	}
	walk(&c.root)
	return json.Marshal(w)
}

// UnmarshalBinary decodes what MarshalBinary wrote. The bytes come from
// another process: a malformed partial is an error, never a panic.
func (p *Partial) UnmarshalBinary(data []byte) error {
	var w partialWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("partial: %w", err)
	}
	if w.Totals == nil {
		return fmt.Errorf("partial: no totals")
	}
	reg := metrics.NewRegistry()
	c := newCollector(w.Start, reg, w.Totals)
	c.open = keepOpen
	c.requests, c.failedRequests = w.Requests, w.Failed
	for _, s := range w.Seconds {
		if s.I < 0 {
			return fmt.Errorf("partial: second %d", s.I)
		}
		b := newBin()
		b.reqs, b.failed, b.failedN, b.dur, b.lateness = s.Reqs, s.Failed, s.FailedN, s.Dur, s.Lateness
		b.iterations, b.dropped, b.checksFail, b.checksN = s.Iterations, s.Dropped, s.ChecksFail, s.ChecksN
		b.sent, b.recv = s.Sent, s.Recv
		b.vus, b.vusMax, b.genCPU, b.genRSS = fromOpt(s.VUs), fromOpt(s.VUsMax), fromOpt(s.GenCPU), fromOpt(s.GenRSS)
		for name, eb := range s.Endpoints {
			if b.endpoints == nil {
				b.endpoints = map[string]*endpointBin{}
			}
			b.endpoints[name] = &endpointBin{eb.Reqs, eb.Failed, eb.FailedN, eb.Dur}
		}
		for _, sb := range s.Slices {
			if b.slices == nil {
				b.slices = map[sliceKey]*endpointBin{}
			}
			b.slices[sliceKey{sb.Tag, sb.Value}] = &endpointBin{sb.Reqs, sb.Failed, sb.FailedN, sb.Dur}
		}
		for name, cb := range s.Custom {
			if cb.N <= 0 {
				return fmt.Errorf("partial: second %d: custom metric %q: n %v", s.I, name, cb.N)
			}
			if b.custom == nil {
				b.custom = map[string]*customBin{}
			}
			b.custom[name] = &customBin{cb.Type, cb.Contains, cb.Sum, cb.N, cb.NZ, cb.Last, cb.Trend}
		}
		for k, g := range s.Gauges {
			if b.gauges == nil {
				b.gauges = map[string]gaugeValue{}
			}
			b.gauges[k] = gaugeValue{g.Name, g.Tags, g.Unit, g.Value}
		}
		c.bins[s.I] = b
	}
	for _, e := range w.Endpoints {
		ep := c.endpoint(e.Name, e.Method)
		ep.requests, ep.failed = e.Requests, e.Failed
		if e.Duration != nil {
			ep.duration = e.Duration
		}
		maps.Copy(ep.statuses, e.Statuses)
		maps.Copy(ep.errors, e.Errors)
	}
	for _, name := range w.Names {
		if len(c.distinctNames) < distinctNamesCap {
			c.distinctNames[name] = struct{}{}
		}
	}
	for _, g := range w.Groups {
		c.group(g)
	}
	for _, ck := range w.Checks {
		mine := c.check(ck.Group, ck.Name)
		mine.passes += ck.Passes
		mine.fails += ck.Fails
	}
	*p = Partial{coll: c, errs: w.Errors, scenarios: w.Scenarios, generator: w.Generator}
	return nil
}
