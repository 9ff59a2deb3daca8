package metrics

import (
	"encoding/json"
	"fmt"
)

// MetricType is one of k6's four metric types.
type MetricType uint8

// The metric types, named as k6 names them in JSON ("counter", "gauge", "rate", "trend").
const (
	Counter MetricType = iota + 1 // a sum, with a per-second rate
	Gauge                         // the last value, with min and max
	Rate                          // the share of non-zero values
	Trend                         // a distribution: avg, min, med, max, percentiles
)

var metricTypeNames = map[MetricType]string{Counter: "counter", Gauge: "gauge", Rate: "rate", Trend: "trend"}

// String returns k6's name for the type.
func (t MetricType) String() string {
	if s, ok := metricTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MetricType(%d)", uint8(t))
}

// MarshalText implements encoding.TextMarshaler.
func (t MetricType) MarshalText() ([]byte, error) {
	if _, ok := metricTypeNames[t]; !ok {
		return nil, fmt.Errorf("unknown metric type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *MetricType) UnmarshalText(b []byte) error {
	for k, v := range metricTypeNames {
		if v == string(b) {
			*t = k
			return nil
		}
	}
	return fmt.Errorf("unknown metric type %q: want counter, gauge, rate or trend", b)
}

// ValueType says what a metric's values measure; k6 calls it "contains".
type ValueType uint8

// The value types, named as k6 names them in JSON ("default", "time", "data").
const (
	Default ValueType = iota // plain numbers
	Time                     // durations in milliseconds
	Data                     // sizes in bytes
)

var valueTypeNames = map[ValueType]string{Default: "default", Time: "time", Data: "data"}

// String returns k6's name for the value type.
func (v ValueType) String() string {
	if s, ok := valueTypeNames[v]; ok {
		return s
	}
	return fmt.Sprintf("ValueType(%d)", uint8(v))
}

// MarshalText implements encoding.TextMarshaler.
func (v ValueType) MarshalText() ([]byte, error) {
	if _, ok := valueTypeNames[v]; !ok {
		return nil, fmt.Errorf("unknown value type %d", uint8(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *ValueType) UnmarshalText(b []byte) error {
	for k, name := range valueTypeNames {
		if name == string(b) {
			*v = k
			return nil
		}
	}
	return fmt.Errorf("unknown value type %q: want default, time or data", b)
}

// Metric is a registered metric. Metrics are created by a [Registry] and
// compared by pointer; their fields must not be changed.
type Metric struct {
	Name     string     `json:"name"`
	Type     MetricType `json:"type"`
	Contains ValueType  `json:"contains"`
}

// String returns the metric's name.
func (m *Metric) String() string { return m.Name }

var (
	_ json.Marshaler = (*Metric)(nil)
)

// MarshalJSON writes the metric as k6 does in its NDJSON "Metric" lines.
func (m *Metric) MarshalJSON() ([]byte, error) {
	type plain Metric
	return json.Marshal((*plain)(m))
}
