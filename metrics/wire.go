package metrics

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// The wire forms below let sinks measured in one process be merged in
// another (a distributed run's coordinator): decoding gives a sink that
// merges and reports exactly as the original.

// The versions of a trend's encoding: the values themselves after the sum,
// or the histogram's bins.
const (
	trendWireSketch = 1
	trendWireExact  = 2
)

// MarshalBinary encodes the sink: count, min, max, the exact sum, then
// the values it keeps or else the histogram's bins (DDSketch's own
// encoding, without the index mapping, which is the constant
// [TrendAccuracy] one).
func (t *TrendSink) MarshalBinary() ([]byte, error) {
	version := byte(trendWireSketch)
	if t.sketch == nil {
		version = trendWireExact
	}
	b := []byte{version}
	b = binary.AppendUvarint(b, uint64(t.count))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(t.min))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(t.max))
	var nonZero uint64
	for _, w := range t.sum {
		if w != 0 {
			nonZero++
		}
	}
	b = binary.AppendUvarint(b, nonZero)
	for i, w := range t.sum {
		if w != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	if t.sketch == nil {
		b = binary.AppendUvarint(b, uint64(len(t.exact)))
		for _, v := range t.exact {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b, nil
	}
	t.sketch.Encode(&b, true)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote into t, which may be
// the zero value.
func (t *TrendSink) UnmarshalBinary(b []byte) error {
	fresh := NewTrendSink()
	bad := func(what string) error { return fmt.Errorf("trend sink: %s", what) }
	if len(b) == 0 || b[0] != trendWireSketch && b[0] != trendWireExact {
		return bad("unknown encoding version")
	}
	version := b[0]
	b = b[1:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > math.MaxInt64 {
		return bad("bad count")
	}
	b = b[n:]
	if len(b) < 16 {
		return bad("truncated min and max")
	}
	fresh.count = int64(count)
	fresh.min = math.Float64frombits(binary.LittleEndian.Uint64(b))
	fresh.max = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	b = b[16:]
	words, n := binary.Uvarint(b)
	if n <= 0 || words > exactWords {
		return bad("bad sum")
	}
	b = b[n:]
	for range words {
		i, n := binary.Uvarint(b)
		if n <= 0 || i >= exactWords || len(b[n:]) < 8 {
			return bad("bad sum word")
		}
		fresh.sum[i] = binary.LittleEndian.Uint64(b[n:])
		b = b[n+8:]
	}
	if version == trendWireExact {
		n, k := binary.Uvarint(b)
		if k <= 0 || n != count || n > TrendExactLimit || uint64(len(b[k:])) != 8*n {
			return bad("bad values")
		}
		b = b[k:]
		fresh.exact = make([]float64, n)
		for i := range fresh.exact {
			fresh.exact[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		*t = *fresh
		return nil
	}
	fresh.sketch = newSketch()
	if err := fresh.sketch.DecodeAndMergeWith(b); err != nil {
		return fmt.Errorf("trend sink: histogram: %w", err)
	}
	if fresh.sketch.GetCount() != float64(fresh.count) {
		return bad("histogram and count disagree")
	}
	*t = *fresh
	return nil
}

// sinkWire is a sink on the wire: the plain sinks as their JSON fields, a
// trend as its binary form.
type sinkWire struct {
	Counter *CounterSink `json:"counter,omitempty"`
	Gauge   *GaugeSink   `json:"gauge,omitempty"`
	Rate    *RateSink    `json:"rate,omitempty"`
	Trend   *TrendSink   `json:"trend,omitempty"`
}

func toWire(s Sink) (sinkWire, error) {
	switch s := s.(type) {
	case *CounterSink:
		return sinkWire{Counter: s}, nil
	case *GaugeSink:
		return sinkWire{Gauge: s}, nil
	case *RateSink:
		return sinkWire{Rate: s}, nil
	case *TrendSink:
		return sinkWire{Trend: s}, nil
	}
	return sinkWire{}, fmt.Errorf("unknown sink %T", s)
}

func (w sinkWire) sink(t MetricType) (Sink, error) {
	switch {
	case t == Counter && w.Counter != nil:
		return w.Counter, nil
	case t == Gauge && w.Gauge != nil:
		return w.Gauge, nil
	case t == Rate && w.Rate != nil:
		return w.Rate, nil
	case t == Trend && w.Trend != nil:
		return w.Trend, nil
	}
	return nil, fmt.Errorf("no %s sink", t)
}

type totalsWire struct {
	Metrics []metricWire `json:"metrics"`
	// Submetrics lists every tracked selector, also those without a sink
	// yet, so that decoded totals track the same ones.
	Submetrics []string `json:"submetrics,omitempty"`
}

type metricWire struct {
	Name     string     `json:"name"`
	Type     MetricType `json:"type"`
	Contains ValueType  `json:"contains"`
	Sink     sinkWire   `json:"sink"`
	Subs     []subWire  `json:"subs,omitempty"`
}

type subWire struct {
	Key  string   `json:"key"`
	Sink sinkWire `json:"sink"`
}

// MarshalJSON encodes the totals with every sink, for [Totals.Merge] in
// another process.
func (t *Totals) MarshalJSON() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var w totalsWire
	for key := range t.byKey {
		w.Submetrics = append(w.Submetrics, key)
	}
	for name, mt := range t.byName {
		s, err := toWire(mt.sink)
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", name, err)
		}
		m := metricWire{Name: name, Type: mt.metric.Type, Contains: mt.metric.Contains, Sink: s}
		for _, st := range mt.subs {
			s, err := toWire(st.sink)
			if err != nil {
				return nil, fmt.Errorf("sub-metric %q: %w", st.Name, err)
			}
			m.Subs = append(m.Subs, subWire{Key: st.Name, Sink: s})
		}
		w.Metrics = append(w.Metrics, m)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON wrote into t, replacing what t
// held. Metrics are matched by name when merged, so the decoded totals
// merge into totals of any registry.
func (t *Totals) UnmarshalJSON(b []byte) error {
	var w totalsWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	fresh, err := NewTotals(w.Submetrics...)
	if err != nil {
		return err
	}
	var errs []error
	for _, mw := range w.Metrics {
		m := &Metric{Name: mw.Name, Type: mw.Type, Contains: mw.Contains}
		mt := fresh.metric(m)
		if mt.sink, err = mw.Sink.sink(m.Type); err != nil {
			errs = append(errs, fmt.Errorf("metric %q: %w", m.Name, err))
			continue
		}
		for _, sw := range mw.Subs {
			st := fresh.byKey[sw.Key]
			if st == nil || st.Parent != m.Name {
				errs = append(errs, fmt.Errorf("sub-metric %q: not a tracked selector of %q", sw.Key, m.Name))
				continue
			}
			if st.sink, err = sw.Sink.sink(m.Type); err != nil {
				errs = append(errs, fmt.Errorf("sub-metric %q: %w", sw.Key, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byName, t.byMetric, t.byKey, t.subs = fresh.byName, fresh.byMetric, fresh.byKey, fresh.subs
	return nil
}

// Remove drops the totals of the named metrics and their sub-metrics: a
// distributed run's coordinator computes some (vus, vus_max) itself
// instead of merging the generators' own.
func (t *Totals) Remove(names ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range names {
		mt := t.byName[name]
		if mt == nil {
			continue
		}
		delete(t.byName, name)
		delete(t.byMetric, mt.metric)
		for m, x := range t.byMetric {
			if x == mt {
				delete(t.byMetric, m)
			}
		}
		for _, st := range mt.subs {
			st.sink = nil
		}
	}
}

// MarshalJSON writes the binary form as a JSON string (base64).
func (t *TrendSink) MarshalJSON() ([]byte, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// plainString tells whether the inside of a JSON string literal is its
// value as is: no escapes, quotes or control characters.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (t *TrendSink) UnmarshalJSON(data []byte) error {
	// MarshalJSON's string has no escapes: decode the base64 between the
	// quotes at once, instead of scanning it again as JSON (the
	// coordinator of a distributed run decodes thousands a second).
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' && plainString(data[1:n-1]) {
		b := make([]byte, base64.StdEncoding.DecodedLen(n-2))
		k, err := base64.StdEncoding.Decode(b, data[1:n-1])
		if err != nil {
			return fmt.Errorf("trend sink: %w", err)
		}
		return t.UnmarshalBinary(b[:k])
	}
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("trend sink: %w", err)
	}
	return t.UnmarshalBinary(b)
}
