package loadtest

import (
	"crypto/md5"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/loadlens/loadlens/metrics"
)

// Caps that keep a run's memory bounded whatever its tags.
const (
	// MaxEndpoints is how many endpoints get their own EndpointStats; the
	// rest are folded into one named "(other)".
	MaxEndpoints = 100
	// MaxEndpointSeries is how many endpoints (the first seen) get their own
	// per-second series.
	MaxEndpointSeries = 20
	// MaxSliceSeries is how many scenarios, and how many groups (the first
	// seen), get their own per-second request series.
	MaxSliceSeries = 20
	// MaxCustomSeries is how many custom metrics (the first seen) get a
	// per-second series.
	MaxCustomSeries = 20
	// MaxIterationErrors is how many distinct iteration error messages are
	// counted; the rest count under "(other)".
	MaxIterationErrors = 50
	// MaxGroups and MaxChecks are how many distinct groups and checks get
	// their own node in the group tree; the rest count under "(other)" (a
	// group under the root, a check in its group). A script that made a
	// check name per iteration made a result of tens of megabytes, and
	// each check was found by a scan of its group.
	MaxGroups = 1000
	MaxChecks = 1000
	// MaxNameBytes is how long a check, group or endpoint name and an
	// iteration error message may be; longer ones are cut there, with an
	// ellipsis. A 200-byte script of 1 000 checks with 60 KB names made a
	// 120 MB result.
	MaxNameBytes = 1024
	// distinctNamesCap bounds the set used to count distinct name tags.
	distinctNamesCap = 10_000
	// openSeconds is how many recent seconds stay open for late samples.
	openSeconds = 3
	// remoteOpenSeconds is openSeconds for a coordinator: generators' partials
	// arrive a second or two after their samples.
	remoteOpenSeconds = 6
	// keepOpen never closes a second: a partial's collector holds its open
	// bins until it is merged.
	keepOpen = int64(1) << 62
)

// otherName gathers what the caps fold: endpoints, groups, checks.
const otherName = "(other)"

// builtinMetrics caches the registry's built-in metrics for the hot path.
type builtinMetrics struct {
	vus, vusMax, iterations, iterationDuration, dropped, lateness   *metrics.Metric
	checks, groupDuration, httpReqs, httpReqFailed, httpReqDuration *metrics.Metric
	dataSent, dataReceived                                          *metrics.Metric
}

func newBuiltinMetrics(r *metrics.Registry) builtinMetrics {
	return builtinMetrics{
		vus: r.Get(metrics.VUs), vusMax: r.Get(metrics.VUsMax), iterations: r.Get(metrics.Iterations),
		iterationDuration: r.Get(metrics.IterationDuration), dropped: r.Get(metrics.DroppedIterations),
		lateness: r.Get(metrics.IterationLateness), checks: r.Get(metrics.Checks),
		groupDuration: r.Get(metrics.GroupDuration), httpReqs: r.Get(metrics.HTTPReqs),
		httpReqFailed: r.Get(metrics.HTTPReqFailed), httpReqDuration: r.Get(metrics.HTTPReqDuration),
		dataSent: r.Get(metrics.DataSent), dataReceived: r.Get(metrics.DataReceived),
	}
}

// collector is the engine's own output: it folds samples into the totals
// (for thresholds and the summary), the per-second timeline, per-endpoint
// stats and the group/check tree. It is safe for concurrent use.
type collector struct {
	mu     sync.Mutex
	start  time.Time
	m      builtinMetrics
	totals *metrics.Totals
	// open is how many recent seconds stay open (openSeconds by default).
	open int64
	// sumVUs adds the vus and vus_max of merged bins (generators of one
	// run) instead of keeping the latest (partials of one generator).
	sumVUs bool
	// written, when set, is called with each second as it is closed, under
	// mu; a coordinator derives the vus and vus_max totals from the sums.
	written func(i int64, b *bin)

	bins      map[int64]*bin // open seconds
	frontier  int64          // highest second index seen
	finalized int64          // seconds [0, finalized) are in series
	series    []*Series
	seriesIdx map[string]*Series

	endpoints     map[endpointKey]*endpointAgg
	endpointOrder []endpointKey
	seriesNames   map[string]bool // endpoints with their own series
	sliceNames    map[sliceKey]bool
	nSlices       map[string]int // by tag: slices with their own series
	customNames   map[string]bool
	nCustom       int
	distinctNames map[string]struct{}

	root groupNode

	requests, failedRequests int64 // so far, for snapshots

	req reqTags // the last request tag set resolved, in this batch
	// lastBin is the open bin of second lastSecond, in this batch: its
	// samples mostly share their second.
	lastBin    *bin
	lastSecond int64

	// custom caches whether a metric is custom, by pointer: six of a
	// request's samples would otherwise hash their metric's name.
	custom map[*metrics.Metric]bool
}

// isCustom reports whether m is not one of k6's built-in metrics.
func (c *collector) isCustom(m *metrics.Metric) bool {
	custom, seen := c.custom[m]
	if !seen {
		_, builtin := builtinSections[m.Name]
		custom = !builtin
		if c.custom == nil || len(c.custom) >= distinctNamesCap {
			c.custom = make(map[*metrics.Metric]bool)
		}
		c.custom[m] = custom
	}
	return custom
}

// reqTags is what a request sample's tag set resolves to in one second:
// name, method, endpoint and series accumulators. A request's samples
// share one tag set and a VU's steady requests share one too, so a batch
// resolves it once rather than for each sample (a few tag searches and map
// lookups each). Each part is resolved when first needed, in the order the
// samples need them, as the caps on endpoints and series count first
// sightings.
type reqTags struct {
	tags         metrics.Tags
	b            *bin
	name, method string
	ep           *endpointAgg // nil until needed
	eb           *endpointBin
	slices       [len(sliceTags)]*endpointBin
	ebDone       bool
	slicesDone   bool
}

// resolve returns the resolution of tags in b, the last one when it is
// the same.
func (c *collector) resolve(b *bin, tags metrics.Tags) *reqTags {
	r := &c.req
	if r.b != b || r.tags != tags {
		*r = reqTags{tags: tags, b: b, name: tagName(tags, "name"), method: method(tags)}
	}
	return r
}

func (r *reqTags) endpoint(c *collector) *endpointAgg {
	if r.ep == nil {
		r.ep = c.endpoint(r.name, r.method)
	}
	return r.ep
}

func (r *reqTags) endpointBin(c *collector) *endpointBin {
	if !r.ebDone {
		r.eb, r.ebDone = c.endpointBin(r.b, r.name), true
	}
	return r.eb
}

func (r *reqTags) sliceBins(c *collector) [len(sliceTags)]*endpointBin {
	if !r.slicesDone {
		r.slices, r.slicesDone = c.sliceBins(r.b, r.tags), true
	}
	return r.slices
}

type endpointKey struct{ name, method string }

// A slice is the requests of one scenario or one group: tag is
// "scenario" or "group".
type sliceKey struct{ tag, value string }

// sliceTags are the tags whose values get their own request series.
var sliceTags = [...]string{"scenario", "group"}

type endpointAgg struct {
	requests, failed int64
	duration         *metrics.TrendSink
	statuses         map[string]int64
	errors           map[string]int64
}

type groupNode struct {
	name, path string
	groups     []*groupNode
	checks     []*checkNode
	groupIdx   map[string]*groupNode // by name
	checkIdx   map[string]*checkNode // by name
	// The root counts the tree's nodes for MaxGroups and MaxChecks.
	nGroups, nChecks int
	capped           bool
}

type checkNode struct {
	name          string
	passes, fails int64
}

// bin accumulates one second.
type bin struct {
	reqs, failed, failedN float64
	dur, lateness         *metrics.TrendSink
	iterations, dropped   float64
	iterErrors            float64
	checksFail, checksN   float64
	sent, recv            float64
	vus, vusMax           float64
	genCPU, genRSS        float64
	endpoints             map[string]*endpointBin
	slices                map[sliceKey]*endpointBin
	custom                map[string]*customBin // by metric name
	gauges                map[string]gaugeValue // other per-second values, by series key
}

type endpointBin struct {
	reqs, failed, failedN float64
	dur                   *metrics.TrendSink
}

// customBin accumulates one second of a custom metric, as its type
// aggregates: the sum of a counter, the share of non-zero values of a
// rate, the last value of a gauge, the distribution of a trend.
type customBin struct {
	typ        metrics.MetricType
	contains   metrics.ValueType
	sum, n, nz float64
	last       float64
	trend      *metrics.TrendSink
}

type gaugeValue struct {
	name  string
	tags  map[string]string
	unit  string
	value float64
}

func newBin() *bin {
	nan := math.NaN()
	return &bin{vus: nan, vusMax: nan, genCPU: nan, genRSS: nan}
}

func newCollector(start time.Time, reg *metrics.Registry, totals *metrics.Totals) *collector {
	return &collector{
		start: start, m: newBuiltinMetrics(reg), totals: totals, open: openSeconds,
		bins: make(map[int64]*bin), seriesIdx: make(map[string]*Series),
		endpoints: make(map[endpointKey]*endpointAgg), seriesNames: make(map[string]bool),
		sliceNames: make(map[sliceKey]bool), nSlices: make(map[string]int), customNames: make(map[string]bool),
		distinctNames: make(map[string]struct{}),
	}
}

func (c *collector) second(t time.Time) int64 {
	i := int64(t.Sub(c.start) / time.Second)
	return max(i, 0)
}

// binAt returns the open bin of second i; late samples go to the oldest
// open second.
func (c *collector) binAt(i int64) *bin {
	i = max(i, c.finalized)
	b := c.bins[i]
	if b == nil {
		b = newBin()
		c.bins[i] = b
	}
	if i > c.frontier {
		c.frontier = i
		c.finalizeBefore(i - c.open + 1)
	}
	return b
}

// add folds a batch into the totals and the timeline.
func (c *collector) add(batch []metrics.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.totals.Add(batch...)
	for i := range batch {
		c.addOne(&batch[i])
	}
	c.req, c.lastBin = reqTags{}, nil // merges, partials and ticks change what they point to
}

// binOf returns the open bin of t's second.
func (c *collector) binOf(t time.Time) *bin {
	if i := c.second(t); c.lastBin == nil || i != c.lastSecond {
		c.lastBin, c.lastSecond = c.binAt(i), i
	}
	return c.lastBin
}

func (c *collector) addOne(s *metrics.Sample) {
	b := c.binOf(s.Time)
	switch s.Metric {
	case c.m.httpReqs:
		b.reqs += s.Value
		c.requests += int64(s.Value)
		r := c.resolve(b, s.Tags)
		ep := r.endpoint(c)
		ep.requests += int64(s.Value)
		status, _ := s.Tags.Get("status")
		ep.statuses[status]++
		if code, ok := s.Tags.Get("error_code"); ok {
			ep.errors[code]++
		}
		if eb := r.endpointBin(c); eb != nil {
			eb.reqs += s.Value
		}
		for _, sb := range r.sliceBins(c) {
			if sb != nil {
				sb.reqs += s.Value
			}
		}
	case c.m.httpReqFailed:
		b.failedN++
		r := c.resolve(b, s.Tags)
		eb := r.endpointBin(c)
		if eb != nil {
			eb.failedN++
		}
		if s.Value != 0 {
			b.failed++
			c.failedRequests++
			r.endpoint(c).failed++
			if eb != nil {
				eb.failed++
			}
		}
		for _, sb := range r.sliceBins(c) {
			if sb != nil {
				sb.failedN++
				if s.Value != 0 {
					sb.failed++
				}
			}
		}
	case c.m.httpReqDuration:
		if b.dur == nil {
			b.dur = metrics.NewSketchTrendSink()
		}
		b.dur.Add(s.Value)
		r := c.resolve(b, s.Tags)
		r.endpoint(c).duration.Add(s.Value)
		if eb := r.endpointBin(c); eb != nil {
			if eb.dur == nil {
				eb.dur = metrics.NewSketchTrendSink()
			}
			eb.dur.Add(s.Value)
		}
		for _, sb := range r.sliceBins(c) {
			if sb != nil {
				if sb.dur == nil {
					sb.dur = metrics.NewSketchTrendSink()
				}
				sb.dur.Add(s.Value)
			}
		}
	case c.m.iterations:
		b.iterations += s.Value
	case c.m.dropped:
		b.dropped += s.Value
	case c.m.lateness:
		if b.lateness == nil {
			b.lateness = metrics.NewSketchTrendSink()
		}
		b.lateness.Add(s.Value)
	case c.m.checks:
		b.checksN++
		if s.Value == 0 {
			b.checksFail++
		}
		group, _ := s.Tags.Get("group") // each of its names is cut in group
		name := tagName(s.Tags, "check")
		if s.Value != 0 {
			c.check(group, name).passes++
		} else {
			c.check(group, name).fails++
		}
	case c.m.groupDuration:
		group, _ := s.Tags.Get("group")
		c.group(group)
	case c.m.dataSent:
		b.sent += s.Value
	case c.m.dataReceived:
		b.recv += s.Value
	case c.m.vus:
		b.vus = s.Value
	case c.m.vusMax:
		b.vusMax = s.Value
	default:
		if c.isCustom(s.Metric) {
			c.customSample(b, s)
		}
	}
}

// sliceBins returns the per-second accumulators of the sample's scenario
// and group, nil for one without its own series (no tag, the root group,
// or past MaxSliceSeries).
func (c *collector) sliceBins(b *bin, tags metrics.Tags) (out [len(sliceTags)]*endpointBin) {
	for i, tag := range sliceTags {
		v, ok := tags.Get(tag)
		if !ok || v == "" {
			continue
		}
		out[i] = c.sliceBin(b, sliceKey{tag, v})
	}
	return out
}

// sliceBin returns the per-second accumulator of a slice, or nil when it
// has no series of its own.
func (c *collector) sliceBin(b *bin, key sliceKey) *endpointBin {
	has, seen := c.sliceNames[key]
	if !seen {
		has = c.nSlices[key.tag] < MaxSliceSeries
		c.sliceNames[key] = has
		if has {
			c.nSlices[key.tag]++
		}
	}
	if !has {
		return nil
	}
	if b.slices == nil {
		b.slices = make(map[sliceKey]*endpointBin)
	}
	sb := b.slices[key]
	if sb == nil {
		sb = &endpointBin{}
		b.slices[key] = sb
	}
	return sb
}

// customSample folds a sample of a custom metric into its second, for the
// first MaxCustomSeries custom metrics.
func (c *collector) customSample(b *bin, s *metrics.Sample) {
	if cb := c.customBin(b, s.Metric.Name, s.Metric.Type, s.Metric.Contains); cb != nil {
		cb.add(s.Value)
	}
}

// customBin returns the per-second accumulator of a custom metric, or nil
// when it has no series of its own.
func (c *collector) customBin(b *bin, name string, typ metrics.MetricType, contains metrics.ValueType) *customBin {
	has, seen := c.customNames[name]
	if !seen {
		has = c.nCustom < MaxCustomSeries
		c.customNames[name] = has
		if has {
			c.nCustom++
		}
	}
	if !has {
		return nil
	}
	if b.custom == nil {
		b.custom = make(map[string]*customBin)
	}
	cb := b.custom[name]
	if cb == nil {
		cb = &customBin{typ: typ, contains: contains, last: math.NaN()}
		b.custom[name] = cb
	}
	return cb
}

func (cb *customBin) add(v float64) {
	cb.sum += v
	cb.n++
	if v != 0 {
		cb.nz++
	}
	cb.last = v
	if cb.typ == metrics.Trend {
		if cb.trend == nil {
			cb.trend = metrics.NewSketchTrendSink()
		}
		cb.trend.Add(v)
	}
}

// series returns the series a custom metric's second goes to, its
// unit and its value.
func (cb *customBin) series() (name, unit string, v float64) {
	unit = map[metrics.ValueType]string{metrics.Time: "ms", metrics.Data: "bytes"}[cb.contains]
	switch cb.typ {
	case metrics.Counter:
		if unit == "" {
			return SeriesCustomCount, "1/s", cb.sum
		}
		return SeriesCustomCount, unit + "/s", cb.sum
	case metrics.Rate:
		return SeriesCustomRate, "", cb.nz / cb.n
	case metrics.Gauge:
		return SeriesCustomValue, unit, cb.last
	}
	return SeriesCustomP95, unit, trendValue(cb.trend, metrics.Percentile(95))
}

func method(tags metrics.Tags) string {
	m, _ := tags.Get("method")
	return m
}

func (c *collector) endpoint(name, method string) *endpointAgg {
	key := endpointKey{name, method}
	ep := c.endpoints[key]
	if ep != nil {
		return ep
	}
	if len(c.distinctNames) < distinctNamesCap {
		c.distinctNames[name] = struct{}{}
	}
	if len(c.endpoints) >= MaxEndpoints {
		key = endpointKey{name: otherName}
		if ep = c.endpoints[key]; ep != nil {
			return ep
		}
	}
	ep = &endpointAgg{duration: metrics.NewTrendSink(), statuses: map[string]int64{}, errors: map[string]int64{}}
	c.endpoints[key] = ep
	c.endpointOrder = append(c.endpointOrder, key)
	return ep
}

// endpointBin returns the per-second accumulator of an endpoint that has
// its own series, or nil.
func (c *collector) endpointBin(b *bin, name string) *endpointBin {
	has, seen := c.seriesNames[name]
	if !seen {
		has = len(c.seriesNames) < MaxEndpointSeries
		c.seriesNames[name] = has
	}
	if !has {
		return nil
	}
	if b.endpoints == nil {
		b.endpoints = make(map[string]*endpointBin)
	}
	eb := b.endpoints[name]
	if eb == nil {
		eb = &endpointBin{}
		b.endpoints[name] = eb
	}
	return eb
}

// iterationError counts an iteration that ended with an error at t.
func (c *collector) iterationError(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.binAt(c.second(t)).iterErrors++
}

// setGauge records a per-second value that does not come from samples:
// generator and target health.
func (c *collector) setGauge(t time.Time, name string, tags map[string]string, unit string, v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.binAt(c.second(t))
	switch name {
	case SeriesGeneratorCPU:
		b.genCPU = v
		return
	case SeriesGeneratorRSS:
		b.genRSS = v
		return
	}
	if b.gauges == nil {
		b.gauges = make(map[string]gaugeValue)
	}
	b.gauges[seriesKey(name, tags)] = gaugeValue{name, tags, unit, v}
}

func seriesKey(name string, tags map[string]string) string {
	return name + metrics.TagsFromMap(tags).String()
}

// finalizeBefore moves the seconds before i from open bins into series.
func (c *collector) finalizeBefore(i int64) {
	for ; c.finalized < i; c.finalized++ {
		b := c.bins[c.finalized]
		delete(c.bins, c.finalized)
		if b == nil {
			b = newBin()
		}
		c.write(c.finalized, b)
		if c.written != nil {
			c.written(c.finalized, b)
		}
	}
}

// write appends second i's values to the series.
func (c *collector) write(i int64, b *bin) {
	nan := math.NaN()
	put := func(name string, tags map[string]string, unit string, v float64) {
		key := seriesKey(name, tags)
		s := c.seriesIdx[key]
		if s == nil {
			s = &Series{Name: name, Tags: tags, Unit: unit}
			c.seriesIdx[key] = s
			c.series = append(c.series, s)
		}
		for int64(len(s.Values)) < i {
			s.Values = append(s.Values, nan)
		}
		s.Values = append(s.Values, v)
	}
	ratio := func(a, n float64) float64 {
		if n == 0 {
			return nan
		}
		return a / n
	}
	put(SeriesVUs, nil, "", b.vus)
	put(SeriesVUsMax, nil, "", b.vusMax)
	put(SeriesRequests, nil, "req/s", b.reqs)
	put(SeriesFailedRate, nil, "", ratio(b.failed, b.failedN))
	for _, q := range []struct {
		name string
		agg  metrics.Aggregation
	}{
		{SeriesLatencyAvg, metrics.Aggregation{Name: "avg"}},
		{SeriesLatencyP50, metrics.Percentile(50)},
		{SeriesLatencyP90, metrics.Percentile(90)},
		{SeriesLatencyP95, metrics.Percentile(95)},
		{SeriesLatencyP99, metrics.Percentile(99)},
		{SeriesLatencyMax, metrics.Aggregation{Name: "max"}},
	} {
		put(q.name, nil, "ms", trendValue(b.dur, q.agg))
	}
	put(SeriesIterations, nil, "1/s", b.iterations)
	put(SeriesIterErrors, nil, "1/s", b.iterErrors)
	put(SeriesDropped, nil, "1/s", b.dropped)
	put(SeriesLatenessP99, nil, "ms", trendValue(b.lateness, metrics.Percentile(99)))
	put(SeriesChecksFail, nil, "", ratio(b.checksFail, b.checksN))
	put(SeriesDataSent, nil, "bytes/s", b.sent)
	put(SeriesDataRecv, nil, "bytes/s", b.recv)
	put(SeriesGeneratorCPU, nil, "%", b.genCPU)
	put(SeriesGeneratorRSS, nil, "bytes", b.genRSS)
	for name, eb := range b.endpoints {
		tags := map[string]string{"name": name}
		put(SeriesRequests, tags, "req/s", eb.reqs)
		put(SeriesFailedRate, tags, "", ratio(eb.failed, eb.failedN))
		put(SeriesLatencyP95, tags, "ms", trendValue(eb.dur, metrics.Percentile(95)))
	}
	for key, sb := range b.slices {
		tags := map[string]string{key.tag: key.value}
		put(SeriesRequests, tags, "req/s", sb.reqs)
		put(SeriesFailedRate, tags, "", ratio(sb.failed, sb.failedN))
		put(SeriesLatencyP95, tags, "ms", trendValue(sb.dur, metrics.Percentile(95)))
	}
	for metric, cb := range b.custom {
		name, unit, v := cb.series()
		put(name, map[string]string{"metric": metric}, unit, v)
	}
	for _, g := range b.gauges {
		put(g.name, g.tags, g.unit, g.value)
	}
}

func trendValue(t *metrics.TrendSink, a metrics.Aggregation) float64 {
	if t == nil {
		return math.NaN()
	}
	v, ok := t.Value(a, 0)
	if !ok {
		return math.NaN()
	}
	return v
}

func (c *collector) group(path string) *groupNode {
	root := &c.root
	node := root
	if path == "" {
		return node
	}
	for _, name := range strings.Split(strings.TrimPrefix(path, "::"), "::") {
		name = shortName(name)
		next := node.groupIdx[name]
		if next == nil {
			if root.nGroups >= MaxGroups {
				root.capped = true
				return root.child(otherName)
			}
			root.nGroups++
			next = node.child(name)
		}
		node = next
	}
	return node
}

// tagName is a name-like tag's value, cut to MaxNameBytes.
func tagName(tags metrics.Tags, key string) string {
	v, _ := tags.Get(key)
	return shortName(v)
}

// shortName cuts a name past MaxNameBytes, at a rune's start, and marks
// the cut with an ellipsis.
func shortName(name string) string {
	if len(name) <= MaxNameBytes {
		return name
	}
	const ellipsis = "…"
	cut := MaxNameBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + ellipsis
}

// child returns the subgroup called name, made if need be.
func (g *groupNode) child(name string) *groupNode {
	if sub := g.groupIdx[name]; sub != nil {
		return sub
	}
	sub := &groupNode{name: name, path: g.path + "::" + name}
	if g.groupIdx == nil {
		g.groupIdx = map[string]*groupNode{}
	}
	g.groupIdx[name] = sub
	g.groups = append(g.groups, sub)
	return sub
}

func (c *collector) check(group, name string) *checkNode {
	g := c.group(group)
	if ck := g.checkIdx[name]; ck != nil {
		return ck
	}
	if c.root.nChecks >= MaxChecks {
		c.root.capped = true
		name = otherName
		if ck := g.checkIdx[name]; ck != nil {
			return ck
		}
	} else {
		c.root.nChecks++
	}
	ck := &checkNode{name: name}
	if g.checkIdx == nil {
		g.checkIdx = map[string]*checkNode{}
	}
	g.checkIdx[name] = ck
	g.checks = append(g.checks, ck)
	return ck
}

// treeCapped reports whether MaxGroups or MaxChecks folded names into
// "(other)".
func (c *collector) treeCapped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.root.capped
}

// snapshotCounts returns requests so far, failed so far, and requests in the
// last finished second.
func (c *collector) snapshotCounts() (requests, failed int64, lastSecond float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.seriesIdx[seriesKey(SeriesRequests, nil)]; s != nil && len(s.Values) > 0 {
		lastSecond = s.Values[len(s.Values)-1]
	}
	return c.requests, c.failedRequests, lastSecond
}

// timelineSince returns a copy of the seconds [from, closed) of every
// series, and closed: where the next call starts.
func (c *collector) timelineSince(from int64) (Timeline, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tl := Timeline{Start: c.start.Add(time.Duration(from) * time.Second), Step: time.Second}
	if c.finalized <= from {
		return tl, from
	}
	for _, s := range c.series {
		vs := make([]float64, c.finalized-from)
		for i := range vs {
			vs[i] = math.NaN()
		}
		if int64(len(s.Values)) > from {
			copy(vs, s.Values[from:])
		}
		tl.Series = append(tl.Series, Series{Name: s.Name, Tags: s.Tags, Unit: s.Unit, Values: vs})
	}
	return tl, c.finalized
}

// finish closes every open second up to end and returns the timeline,
// endpoint stats, group tree and the count of distinct endpoint names.
func (c *collector) finish(end time.Time) (Timeline, []EndpointStats, Group, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := max(c.frontier, c.second(end))
	c.finalizeBefore(last + 1)
	tl := Timeline{Start: c.start, Step: time.Second}
	for _, s := range c.series {
		for int64(len(s.Values)) < c.finalized {
			s.Values = append(s.Values, math.NaN())
		}
		tl.Series = append(tl.Series, *s)
	}
	return tl, c.endpointStats(), c.root.export(), len(c.distinctNames)
}

func (c *collector) endpointStats() []EndpointStats {
	out := make([]EndpointStats, 0, len(c.endpoints))
	for _, key := range c.endpointOrder {
		ep := c.endpoints[key]
		st := EndpointStats{Name: key.name, Method: key.method, Requests: ep.requests, Failed: ep.failed,
			Duration: map[string]float64{}, Statuses: ep.statuses}
		if len(ep.errors) > 0 {
			st.Errors = ep.errors
		}
		for _, a := range []metrics.Aggregation{{Name: "avg"}, {Name: "min"}, {Name: "med"}, {Name: "max"},
			metrics.Percentile(90), metrics.Percentile(95), metrics.Percentile(99)} {
			if v, ok := ep.duration.Value(a, 0); ok {
				st.Duration[a.String()] = v
			}
		}
		out = append(out, st)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Requests > out[j].Requests })
	return out
}

func (g *groupNode) export() Group {
	out := Group{Name: g.name, Path: g.path, ID: md5hex(g.path), Groups: []Group{}, Checks: []Check{}}
	for _, sub := range g.groups {
		out.Groups = append(out.Groups, sub.export())
	}
	for _, ck := range g.checks {
		path := g.path + "::" + ck.name
		out.Checks = append(out.Checks, Check{Name: ck.name, Path: path, ID: md5hex(path), Passes: ck.passes, Fails: ck.fails})
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
