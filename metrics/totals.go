package metrics

import (
	"fmt"
	"sort"
	"sync"
)

// SinkSource looks up the sink of a metric key: a metric name, or a
// sub-metric selector as declared. It returns nil when no sample was seen.
type SinkSource interface {
	Sink(key string) Sink
}

// Totals aggregates a run's samples into one sink per metric and one per
// declared sub-metric. It is safe for concurrent use; read it through
// [Totals.View] so that no sample lands while you read.
type Totals struct {
	mu       sync.Mutex
	byName   map[string]*metricTotals
	byMetric map[*Metric]*metricTotals // a cache of byName for the hot path
	byKey    map[string]*subTotals     // sub-metrics by the key they were declared with
	subs     map[string][]*subTotals   // sub-metrics by parent name
}

type metricTotals struct {
	metric *Metric
	sink   Sink
	subs   []*subTotals
}

type subTotals struct {
	Submetric
	sink Sink // nil until the parent's first sample
}

// NewTotals returns totals that also track the given sub-metric selectors
// (keys without braces are ignored: every metric is tracked).
func NewTotals(keys ...string) (*Totals, error) {
	t := &Totals{
		byName:   make(map[string]*metricTotals),
		byMetric: make(map[*Metric]*metricTotals),
		byKey:    make(map[string]*subTotals),
		subs:     make(map[string][]*subTotals),
	}
	for _, key := range keys {
		sm, err := ParseMetricKey(key)
		if err != nil {
			return nil, err
		}
		if sm.Tags.Len() == 0 || t.byKey[key] != nil {
			continue
		}
		st := &subTotals{Submetric: sm}
		t.byKey[key] = st
		t.subs[sm.Parent] = append(t.subs[sm.Parent], st)
	}
	return t, nil
}

// Add folds samples into the sinks. It allocates only for the first sample
// of each metric.
func (t *Totals) Add(samples ...Sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range samples {
		s := &samples[i]
		mt := t.byMetric[s.Metric]
		if mt == nil {
			mt = t.metric(s.Metric)
		}
		mt.sink.Add(s.Value)
		for _, st := range mt.subs {
			if s.Tags.Contains(st.Tags) {
				st.sink.Add(s.Value)
			}
		}
	}
}

// metric returns the totals of m, creating them on first use. Metrics are
// matched by name, so totals from different registries merge.
func (t *Totals) metric(m *Metric) *metricTotals {
	mt := t.byName[m.Name]
	if mt == nil {
		mt = &metricTotals{metric: m, sink: NewSink(m.Type), subs: t.subs[m.Name]}
		for _, st := range mt.subs {
			st.sink = NewSink(m.Type)
		}
		t.byName[m.Name] = mt
	}
	t.byMetric[m] = mt
	return mt
}

// View calls fn with the sinks, holding the lock: fn must not keep them.
func (t *Totals) View(fn func(SinkSource)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(totalsView{t})
}

type totalsView struct{ t *Totals }

func (v totalsView) Sink(key string) Sink {
	if st := v.t.byKey[key]; st != nil {
		return st.sink
	}
	if mt := v.t.byName[key]; mt != nil {
		return mt.sink
	}
	return nil
}

// Metrics returns the metrics that received samples, sorted by name.
func (t *Totals) Metrics() []*Metric {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*Metric, 0, len(t.byName))
	for _, mt := range t.byName {
		out = append(out, mt.metric)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Submetrics returns the declared sub-metrics whose parent received
// samples, sorted by key.
func (t *Totals) Submetrics() []Submetric {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Submetric
	for _, st := range t.byKey {
		if st.sink != nil {
			out = append(out, st.Submetric)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Merge folds o into t, as if o's samples had been added to t: the way
// per-generator totals become the totals of a distributed run. Both must
// track the same sub-metrics.
func (t *Totals) Merge(o *Totals) error {
	if t == o {
		return fmt.Errorf("cannot merge totals into themselves")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, omt := range o.byName {
		if mt := t.byName[name]; mt != nil && (mt.metric.Type != omt.metric.Type || mt.metric.Contains != omt.metric.Contains) {
			return fmt.Errorf("metric %q: %w", name, ErrMetricConflict)
		}
		mt := t.metric(omt.metric)
		if err := mt.sink.Merge(omt.sink); err != nil {
			return fmt.Errorf("metric %q: %w", name, err)
		}
		for _, ost := range omt.subs {
			st := t.byKey[ost.Name]
			if st == nil {
				return fmt.Errorf("sub-metric %q is not tracked by the receiving totals", ost.Name)
			}
			if err := st.sink.Merge(ost.sink); err != nil {
				return fmt.Errorf("sub-metric %q: %w", ost.Name, err)
			}
		}
	}
	return nil
}
