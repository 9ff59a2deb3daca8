package gemini

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Defaults of Budget's zero fields.
const (
	DefaultMaxTokens       = 6000
	DefaultMaxEndpoints    = 10
	DefaultMaxFindings     = 12
	DefaultBuckets         = 12
	DefaultTargetDataChars = 200
)

// Budget caps the size of an evidence pack. The zero value is the
// documented defaults.
type Budget struct {
	// MaxTokens is the largest estimated size of the pack, in tokens of ≈ 4
	// characters; default [DefaultMaxTokens]. Items are dropped, lowest
	// value first, until the pack fits; Evidence.Omitted says what went.
	MaxTokens int `json:"max_tokens,omitempty"`
	// MaxEndpoints is how many endpoints are described: those with
	// failures first, then the busiest; default [DefaultMaxEndpoints].
	MaxEndpoints int `json:"max_endpoints,omitempty"`
	// MaxFindings is how many findings (the most severe) get time buckets
	// around them; default [DefaultMaxFindings]. Every finding is listed.
	MaxFindings int `json:"max_findings,omitempty"`
	// Buckets is the number of time buckets of each series around a
	// finding; default [DefaultBuckets].
	Buckets int `json:"buckets,omitempty"`
	// TargetData includes text that came from the target (iteration error
	// messages, which may quote response bodies): truncated to
	// TargetDataChars, secrets redacted, and wrapped in random delimiters
	// that the prompt declares untrusted. Off by default.
	TargetData bool `json:"target_data,omitempty"`
	// TargetDataChars is the longest target text kept, in characters;
	// default [DefaultTargetDataChars].
	TargetDataChars int `json:"target_data_chars,omitempty"`
}

// Validate reports every negative field of b at once.
func (b Budget) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max_tokens", b.MaxTokens}, {"max_endpoints", b.MaxEndpoints}, {"max_findings", b.MaxFindings},
		{"buckets", b.Buckets}, {"target_data_chars", b.TargetDataChars}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("budget.%s: must be >= 0, got %d", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

func (b Budget) withDefaults() Budget {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&b.MaxTokens, DefaultMaxTokens)
	def(&b.MaxEndpoints, DefaultMaxEndpoints)
	def(&b.MaxFindings, DefaultMaxFindings)
	def(&b.Buckets, DefaultBuckets)
	def(&b.TargetDataChars, DefaultTargetDataChars)
	return b
}

// ItemKind says what an evidence [Item] describes.
type ItemKind string

// Item kinds, with the form of their IDs.
const (
	ItemTest        ItemKind = "test"         // "test": the test's configuration, redacted
	ItemRun         ItemKind = "run"          // "run": status and whole-run numbers
	ItemThreshold   ItemKind = "threshold"    // "thr:<metric>:<expression>": the engine's verdict
	ItemFinding     ItemKind = "finding"      // the anomaly.Finding ID
	ItemTimeBuckets ItemKind = "time_buckets" // "ts:<finding ID>:<series>": a series around a finding
	ItemEndpoint    ItemKind = "endpoint"     // "ep:<method> <name>"
	ItemGenerator   ItemKind = "generator"    // "gen:cpu", "gen:mem": the load generator's health
	ItemScenario    ItemKind = "scenario"     // "sc:<name>": a scenario's progress
	ItemCheck       ItemKind = "check"        // "chk:<path>": a check that failed
	ItemBaseline    ItemKind = "baseline"     // "base:<metric>", "base:ep:<name>": the change against a baseline run
	ItemWarning     ItemKind = "warning"      // "warn:<n>": a warning of the engine
	ItemTargetData  ItemKind = "target_data"  // "tgt:<n>": untrusted text from the target (only when asked)
)

// Item is one piece of evidence with a stable ID that the model cites.
type Item struct {
	ID   string   `json:"id"`
	Kind ItemKind `json:"kind"`
	// Text is one plain sentence (a finding's message, a warning), or
	// target text between the pack's untrusted delimiters.
	Text string `json:"text,omitempty"`
	// Attrs are the item's non-numeric facts (status, unit, executor…).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Values are its numbers, by name; units are in the names (…_ms,
	// …_pct, …_bytes, …_s) or in Attrs["unit"]; rates are ratios 0 … 1.
	Values map[string]float64 `json:"values,omitempty"`
	// Series holds time buckets (ItemTimeBuckets): the mean of the
	// per-second values in each bucket, oldest first, null where there was
	// no data; Values["from_s"] and Values["bucket_s"] place them.
	Series loadtest.Values `json:"series,omitempty"`

	rank float64 // value for capping: higher is kept first; +Inf never dropped
}

// Evidence is the compact evidence pack the model sees: built in code
// from a run's Result, its findings and an optional baseline run; never
// raw samples. It serialises to JSON ([Evidence.JSON]).
type Evidence struct {
	// Marker names the random delimiters around untrusted target text
	// ("<<MARKER>>…<<END-MARKER>>"); empty when there is none.
	Marker string `json:"untrusted_marker,omitempty"`
	// Items, grouped by kind in a fixed order.
	Items []Item `json:"items"`
	// Omitted says, one line each, what the budget or caps left out.
	Omitted []string `json:"omitted,omitempty"`
}

// JSON returns the pack as compact JSON, the form the model receives.
// HTML characters are not escaped: the delimiters stay readable.
func (e Evidence) JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil { // only NaN or Inf could do this, and they are dropped
		panic(fmt.Sprintf("gemini: evidence does not marshal: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Estimate returns the pack's estimated size in tokens: its JSON length
// in characters divided by 4, rounded up.
func (e Evidence) Estimate() int { return (len(e.JSON()) + 3) / 4 }

// Find returns the item with the given ID.
func (e Evidence) Find(id string) (Item, bool) {
	for _, it := range e.Items {
		if it.ID == id {
			return it, true
		}
	}
	return Item{}, false
}

// BuildEvidence builds the evidence pack of a run: the test's
// configuration (secrets redacted), whole-run numbers, the engine's
// threshold verdicts, every finding of rep with its ID, time buckets of the
// key series around the most severe findings, per-endpoint statistics
// (failing, then busiest), the generator's health, scenario progress,
// failed checks, the engine's warnings and, when baseline is not nil, the
// changes against it. Target text is included only when budget.TargetData
// is set. Items are dropped, lowest value first, until the pack fits
// budget.MaxTokens; Omitted says what went.
//
// It is deterministic except for the random Marker, which is set only when
// target text is included. It is safe for concurrent use.
func BuildEvidence(res loadtest.Result, rep anomaly.Report, baseline *loadtest.Result, budget Budget) Evidence {
	budget = budget.withDefaults()
	b := &builder{res: res, budget: budget}
	b.test()
	b.run()
	b.thresholds()
	b.findings(rep.Findings)
	b.generator()
	b.endpoints()
	b.scenarios()
	b.checks()
	if baseline != nil {
		b.baseline(*baseline)
	}
	b.warnings()
	if budget.TargetData {
		b.targetData()
	}
	return b.capped()
}

type builder struct {
	res     loadtest.Result
	budget  Budget
	items   []Item
	omitted []string
	marker  string
}

func (b *builder) add(it Item) {
	for k, v := range it.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(it.Values, k)
		} else {
			it.Values[k] = round(v)
		}
	}
	if len(it.Values) == 0 {
		it.Values = nil
	}
	for i, v := range it.Series {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			it.Series[i] = round(v)
		}
	}
	b.items = append(b.items, it)
}

// round keeps 4 significant digits: enough to reason with, short to send.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	if err != nil {
		return v
	}
	return r
}

func secs(d time.Duration) float64 { return d.Seconds() }

func (b *builder) test() {
	c := b.res.Config
	it := Item{ID: "test", Kind: ItemTest, Attrs: map[string]string{}, Values: map[string]float64{}, rank: math.Inf(1)}
	set := func(k, v string) {
		if v != "" {
			it.Attrs[k] = v
		}
	}
	set("name", cmp.Or(b.res.Name, c.Name))
	set("test_type", cmp.Or(b.res.TestType, c.TestType))
	for name, sc := range c.Scenarios {
		if sc == nil {
			continue
		}
		set("scenario."+name, compactScenario(sc))
	}
	if c.Target != nil {
		set("target", originOf(c.Target.BaseURL))
		it.Values["target_endpoints"] = float64(len(c.Target.Endpoints))
	}
	if len(c.Thresholds) > 0 {
		it.Values["thresholds"] = float64(len(b.res.Thresholds))
	}
	b.add(it)
}

// compactScenario returns a scenario's k6 JSON without its env, options
// and exec (secrets and noise), secrets in tags redacted.
func compactScenario(sc any) string {
	raw, err := json.Marshal(sc)
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	delete(m, "env")
	delete(m, "options")
	delete(m, "exec")
	out, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return truncate(redact.Text(string(out)), 400)
}

func (b *builder) run() {
	r := b.res
	it := Item{ID: "run", Kind: ItemRun, Attrs: map[string]string{"status": string(r.Status)}, Values: map[string]float64{}, rank: math.Inf(1)}
	if r.Abort != nil {
		it.Attrs["aborted_by"] = string(r.Abort.By)
		it.Attrs["abort_reason"] = truncate(redact.Text(r.Abort.Reason), 160)
		it.Values["aborted_after_s"] = secs(r.Abort.After)
	}
	if r.FailedBy != "" {
		it.Attrs["failed_by"] = truncate(redact.Text(r.FailedBy), 160)
	}
	it.Values["duration_s"] = secs(r.Duration)
	pick := func(metric, agg, name string) {
		if v, ok := r.Metric(metric).Value(agg); ok {
			it.Values[name] = v
		}
	}
	pick("http_reqs", "count", "http_reqs")
	pick("http_reqs", "rate", "http_req_rate_per_s")
	pick("http_req_failed", "rate", "http_req_failed_rate")
	for _, agg := range []string{"avg", "med", "p(90)", "p(95)", "p(99)", "max"} {
		pick("http_req_duration", agg, "http_req_duration_"+aggName(agg)+"_ms")
	}
	pick("iterations", "count", "iterations")
	pick("iteration_duration", "p(95)", "iteration_duration_p95_ms")
	pick("dropped_iterations", "count", "dropped_iterations")
	pick("checks", "rate", "checks_pass_rate")
	pick("vus_max", "max", "vus_max")
	pick("vus", "max", "vus_peak")
	pick("data_received", "rate", "data_received_bytes_per_s")
	if r.DistinctNames > 0 {
		it.Values["distinct_url_names"] = float64(r.DistinctNames)
	}
	b.add(it)
}

// aggName spells an aggregation for a value name: "p(95)" → "p95".
func aggName(agg string) string {
	return strings.NewReplacer("(", "", ")", "", ".", "_").Replace(agg)
}

// ThresholdID returns the evidence ID of a threshold verdict:
// "thr:<metric>:<expression without spaces>".
func ThresholdID(v metrics.Verdict) string {
	return "thr:" + v.Metric + ":" + strings.Join(strings.Fields(v.Threshold.Source), "")
}

func (b *builder) thresholds() {
	for _, v := range b.res.Thresholds {
		it := Item{ID: ThresholdID(v), Kind: ItemThreshold,
			Attrs: map[string]string{"metric": v.Metric, "expression": v.Threshold.Source, "status": v.Status.String()}}
		if v.Threshold.AbortOnFail {
			it.Attrs["abort_on_fail"] = "true"
		}
		if v.Status != metrics.NoData {
			it.Values = map[string]float64{"observed": v.Observed, "bound": v.Threshold.Bound}
		}
		switch v.Status {
		case metrics.Failed:
			it.rank = 100
		case metrics.NoData:
			it.rank = 60
		default:
			it.rank = 50
		}
		b.add(it)
	}
}

func (b *builder) findings(fs []anomaly.Finding) {
	for _, f := range fs {
		it := Item{ID: f.ID, Kind: ItemFinding, Text: redact.Text(f.Message),
			Attrs: map[string]string{"kind": string(f.Kind), "severity": f.Severity.String(), "blame": string(f.Target),
				"metric": f.Metric, "method": f.Method},
			Values: maps.Clone(f.Evidence), rank: 80 + 3*float64(f.Severity)}
		if it.Values == nil {
			it.Values = map[string]float64{}
		}
		for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
			it.Attrs["tag."+k] = redactName(f.Tags[k])
		}
		it.Values["start_s"], it.Values["end_s"] = secs(f.Start), secs(f.End)
		b.add(it)
	}
	// Time buckets around the most severe findings (rep ranks them).
	for i, f := range fs {
		if i >= b.budget.MaxFindings {
			b.omitted = append(b.omitted, fmt.Sprintf("time buckets of %d less severe findings (cap %d)", len(fs)-i, b.budget.MaxFindings))
			break
		}
		b.buckets(f, i)
	}
}

// contextSeries are the series shown around every finding.
var contextSeries = []string{loadtest.SeriesVUs, loadtest.SeriesRequests, loadtest.SeriesFailedRate,
	loadtest.SeriesLatencyP95, loadtest.SeriesGeneratorCPU}

func seriesUnit(name string) string {
	switch {
	case strings.HasPrefix(name, "http_req_duration."), name == loadtest.SeriesLatenessP99:
		return "ms"
	case name == loadtest.SeriesFailedRate, name == loadtest.SeriesChecksFail:
		return "ratio"
	case strings.HasSuffix(name, "_pct"):
		return "pct"
	case strings.HasSuffix(name, "_bytes"):
		return "bytes"
	case name == loadtest.SeriesRequests, name == loadtest.SeriesIterations, name == loadtest.SeriesDropped:
		return "per_s"
	case name == loadtest.SeriesDataSent, name == loadtest.SeriesDataRecv:
		return "bytes_per_s"
	}
	return ""
}

// seriesKey spells a series with its tags: name{k=v,…}.
func seriesKey(s *loadtest.Series) string {
	if len(s.Tags) == 0 {
		return s.Name
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		parts = append(parts, k+"="+redactName(s.Tags[k]))
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

func (b *builder) buckets(f anomaly.Finding, order int) {
	tl := b.res.Timeline
	n := tl.Len()
	if n == 0 {
		return
	}
	step := tl.Step
	if step <= 0 {
		step = time.Second
	}
	base := time.Duration(0) // offset of point 0 from the run's start
	if !tl.Start.IsZero() && !b.res.Start.IsZero() {
		base = tl.Start.Sub(b.res.Start)
	}
	length := max(f.End-f.Start, step)
	pad := max(30*time.Second, length/2).Truncate(step)
	from := max(f.Start-pad, base)
	to := min(f.End+pad, base+time.Duration(n)*step)
	if to <= from {
		return
	}
	width := max(step, ((to-from)/time.Duration(b.budget.Buckets)+step-1)/step*step)
	var picked []*loadtest.Series
	if s := b.findSeries(f.Metric, f.Tags); s != nil {
		picked = append(picked, s)
	}
	for _, name := range contextSeries {
		if s := tl.Find(name, nil); s != nil && !slices.Contains(picked, s) {
			picked = append(picked, s)
		}
	}
	for j, s := range picked {
		it := Item{ID: "ts:" + f.ID + ":" + seriesKey(s), Kind: ItemTimeBuckets,
			Attrs:  map[string]string{"finding": f.ID, "series": seriesKey(s), "aggregation": "mean of per-second values"},
			Values: map[string]float64{"from_s": secs(from), "bucket_s": secs(width)},
			rank:   70 + 2*float64(f.Severity) - 0.1*float64(order) - 0.01*float64(j)}
		if j == 0 {
			it.rank += 1
		}
		if u := seriesUnit(s.Name); u != "" {
			it.Attrs["unit"] = u
		}
		var before, during, after mean
		for t := from; t < to; t += width {
			var m mean
			for k := t; k < min(t+width, to); k += step {
				i := int((k - base) / step)
				if i < 0 || i >= len(s.Values) {
					continue
				}
				v := s.Values[i]
				m.add(v)
				switch {
				case k < f.Start:
					before.add(v)
				case k >= f.End:
					after.add(v)
				default:
					during.add(v)
				}
			}
			it.Series = append(it.Series, m.value())
		}
		it.Values["before"], it.Values["during"], it.Values["after"] = before.value(), during.value(), after.value()
		if bv, dv := before.value(), during.value(); bv != 0 && !math.IsNaN(bv) && !math.IsNaN(dv) {
			it.Values["during_vs_before_change_pct"] = (dv/bv - 1) * 100
		}
		if slices.IndexFunc(it.Series, func(v float64) bool { return !math.IsNaN(v) }) < 0 {
			continue
		}
		b.add(it)
	}
}

// findSeries finds the series a finding is about: by name and tags, else
// by name whatever the tags (target telemetry carries a source tag).
func (b *builder) findSeries(name string, tags map[string]string) *loadtest.Series {
	tl := b.res.Timeline
	if s := tl.Find(name, tags); s != nil {
		return s
	}
	if len(tags) > 0 {
		return nil
	}
	for i := range tl.Series {
		if tl.Series[i].Name == name {
			return &tl.Series[i]
		}
	}
	return nil
}

type mean struct {
	sum float64
	n   int
}

func (m *mean) add(v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		m.sum += v
		m.n++
	}
}

func (m mean) value() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.n)
}

func (b *builder) generator() {
	g := b.res.Generator
	if g.CPUs == 0 && g.CPUMax == 0 && g.RSSMaxBytes == 0 {
		return
	}
	cpu := Item{ID: "gen:cpu", Kind: ItemGenerator, Values: map[string]float64{"cpus": float64(g.CPUs),
		"cpu_avg_pct": g.CPUAvg, "cpu_max_pct": g.CPUMax}, rank: 85}
	if s := b.res.Timeline.Find(loadtest.SeriesGeneratorCPU, nil); s != nil {
		var hot, known float64
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				known++
				if v >= 85 {
					hot++
				}
			}
		}
		if known > 0 {
			step := max(b.res.Timeline.Step, time.Second)
			cpu.Values["seconds_at_or_above_85_pct"] = hot * secs(step)
		}
	}
	b.add(cpu)
	if g.RSSMaxBytes > 0 {
		b.add(Item{ID: "gen:mem", Kind: ItemGenerator, Values: map[string]float64{"rss_max_bytes": g.RSSMaxBytes}, rank: 62})
	}
}

// EndpointID returns the evidence ID of an endpoint: "ep:" and its name,
// prefixed by its method when the name does not start with it.
func EndpointID(e loadtest.EndpointStats) string {
	name := redactName(e.Name)
	if e.Method != "" && !strings.HasPrefix(name, e.Method+" ") {
		name = e.Method + " " + name
	}
	return "ep:" + name
}

func (b *builder) endpoints() {
	eps := slices.Clone(b.res.Endpoints)
	// Failing endpoints first (most failures), then the busiest.
	slices.SortStableFunc(eps, func(x, y loadtest.EndpointStats) int {
		return cmp.Or(cmp.Compare(y.Failed, x.Failed), cmp.Compare(y.Requests, x.Requests))
	})
	if len(eps) > b.budget.MaxEndpoints {
		b.omitted = append(b.omitted, fmt.Sprintf("%d of %d endpoints (cap %d: failing first, then busiest)",
			len(eps)-b.budget.MaxEndpoints, len(eps), b.budget.MaxEndpoints))
		eps = eps[:b.budget.MaxEndpoints]
	}
	for i, e := range eps {
		it := Item{ID: EndpointID(e), Kind: ItemEndpoint, Values: map[string]float64{"requests": float64(e.Requests),
			"failed": float64(e.Failed)}, rank: 50 - 0.5*float64(i)}
		if e.Requests > 0 {
			it.Values["failed_rate"] = float64(e.Failed) / float64(e.Requests)
		}
		if e.Failed > 0 {
			it.rank = 58 - 0.5*float64(i)
		}
		for agg, v := range e.Duration {
			it.Values["duration_"+aggName(agg)+"_ms"] = v
		}
		for code, n := range e.Statuses {
			it.Values["status_"+code] = float64(n)
		}
		for code, n := range e.Errors {
			it.Values["error_code_"+code] = float64(n)
		}
		b.add(it)
	}
}

func (b *builder) scenarios() {
	for _, p := range b.res.Scenarios {
		it := Item{ID: "sc:" + p.Scenario, Kind: ItemScenario, Attrs: map[string]string{"executor": p.Executor},
			Values: map[string]float64{"completed": float64(p.Completed), "interrupted": float64(p.Interrupted),
				"dropped": float64(p.Dropped), "max_vus": float64(p.MaxVUs), "fraction_done": p.Fraction}, rank: 45}
		if p.Dropped > 0 {
			it.rank = 64
		}
		b.add(it)
	}
}

func (b *builder) checks() {
	var walk func(g loadtest.Group)
	walk = func(g loadtest.Group) {
		for _, c := range g.Checks {
			if c.Fails == 0 {
				continue
			}
			b.add(Item{ID: "chk:" + truncate(c.Path, 100), Kind: ItemCheck,
				Values: map[string]float64{"passes": float64(c.Passes), "fails": float64(c.Fails),
					"fail_rate": float64(c.Fails) / float64(c.Passes+c.Fails)}, rank: 57})
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(b.res.RootGroup)
}

// baselineMetrics are the run metrics compared with a baseline run.
var baselineMetrics = []struct{ metric, agg, unit string }{
	{"http_req_duration", "p(95)", "ms"},
	{"http_req_duration", "p(99)", "ms"},
	{"http_req_duration", "med", "ms"},
	{"http_req_failed", "rate", "ratio"},
	{"http_reqs", "rate", "per_s"},
	{"iteration_duration", "p(95)", "ms"},
}

func (b *builder) baseline(base loadtest.Result) {
	label := cmp.Or(base.Name, "baseline")
	if !base.Start.IsZero() {
		label += " @ " + base.Start.UTC().Format(time.RFC3339)
	}
	delta := func(id, unit string, cur, old float64, rank float64) {
		it := Item{ID: id, Kind: ItemBaseline, Attrs: map[string]string{"baseline_run": label, "unit": unit},
			Values: map[string]float64{"current": cur, "baseline": old}, rank: rank}
		if old != 0 {
			it.Values["change_pct"] = (cur/old - 1) * 100
		}
		b.add(it)
	}
	for _, m := range baselineMetrics {
		cur, ok1 := b.res.Metric(m.metric).Value(m.agg)
		old, ok2 := base.Metric(m.metric).Value(m.agg)
		if ok1 && ok2 {
			delta("base:"+m.metric+"."+aggName(m.agg), m.unit, cur, old, 66)
		}
	}
	if b.res.Generator.CPUMax > 0 && base.Generator.CPUMax > 0 {
		delta("base:gen:cpu_avg_pct", "pct", b.res.Generator.CPUAvg, base.Generator.CPUAvg, 55)
	}
	old := map[string]loadtest.EndpointStats{}
	for _, e := range base.Endpoints {
		old[EndpointID(e)] = e
	}
	for _, it := range slices.Clone(b.items) {
		if it.Kind != ItemEndpoint {
			continue
		}
		o, ok := old[it.ID]
		if !ok {
			continue
		}
		if cur, ok := it.Values["duration_p95_ms"]; ok {
			if v, ok := o.Duration["p(95)"]; ok {
				delta("base:"+it.ID+":p95_ms", "ms", cur, v, 40)
			}
		}
		if o.Requests > 0 {
			delta("base:"+it.ID+":failed_rate", "ratio", it.Values["failed_rate"], float64(o.Failed)/float64(o.Requests), 39)
		}
	}
}

func (b *builder) warnings() {
	for i, w := range b.res.Warnings {
		b.add(Item{ID: "warn:" + strconv.Itoa(i+1), Kind: ItemWarning, Text: truncate(redact.Text(w), 200), rank: 30 - 0.1*float64(i)})
	}
}

// targetData adds the text that came from the target, as untrusted data.
func (b *builder) targetData() {
	if len(b.res.IterationErrors) == 0 {
		return
	}
	b.marker = newMarker()
	for i, e := range b.res.IterationErrors {
		b.add(Item{ID: "tgt:" + strconv.Itoa(i+1), Kind: ItemTargetData,
			Text:   wrapUntrusted(cleanUntrusted(e.Message, b.marker, b.budget.TargetDataChars), b.marker),
			Attrs:  map[string]string{"source": "iteration error message"},
			Values: map[string]float64{"count": float64(e.Count)}, rank: 20 - 0.1*float64(i)})
	}
}

// capped drops the least valuable items until the pack fits the budget.
func (b *builder) capped() Evidence {
	ev := Evidence{Marker: b.marker, Items: b.items, Omitted: b.omitted}
	limit := b.budget.MaxTokens * 4
	size := len(ev.JSON())
	if size <= limit {
		return ev
	}
	order := make([]int, len(b.items))
	for i := range order {
		order[i] = i
	}
	// Lowest value first; among equals, the later item first.
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(b.items[x].rank, b.items[y].rank), cmp.Compare(y, x))
	})
	drop := map[int]bool{}
	dropped := map[ItemKind]int{}
	// Reserve room for the omitted lines written below.
	limit -= 200
	for _, i := range order {
		if size <= limit || math.IsInf(b.items[i].rank, 1) {
			break
		}
		it, err := json.Marshal(b.items[i])
		if err != nil {
			continue
		}
		drop[i] = true
		dropped[b.items[i].Kind]++
		size -= len(it) + 1
	}
	kept := make([]Item, 0, len(b.items)-len(drop))
	for i, it := range b.items {
		if !drop[i] {
			kept = append(kept, it)
		}
	}
	ev.Items = kept
	if len(dropped) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(dropped)) {
			parts = append(parts, fmt.Sprintf("%d %s", dropped[k], k))
		}
		ev.Omitted = append(ev.Omitted, fmt.Sprintf("to fit %d tokens, left out (least valuable first): %s items",
			b.budget.MaxTokens, strings.Join(parts, ", ")))
	}
	if ev.Marker != "" && !slices.ContainsFunc(kept, func(it Item) bool { return it.Kind == ItemTargetData }) {
		ev.Marker = ""
	}
	return ev
}
