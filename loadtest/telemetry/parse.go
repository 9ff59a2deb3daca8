package telemetry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Type is a metric family's type.
type Type uint8

// Metric family types. OpenMetrics gaugehistogram families read as
// TypeHistogram.
const (
	TypeUntyped Type = iota
	TypeCounter
	TypeGauge
	TypeHistogram
	TypeSummary
)

// String returns the type as the exposition format spells it.
func (t Type) String() string {
	switch t {
	case TypeCounter:
		return "counter"
	case TypeGauge:
		return "gauge"
	case TypeHistogram:
		return "histogram"
	case TypeSummary:
		return "summary"
	}
	return "untyped"
}

// Value is one metric family's value in a reading, summed over the
// family's label sets.
type Value struct {
	Type Type
	// Value is the counter's or gauge's value; for histograms and summaries
	// the sum of the observations.
	Value float64
	// Count is the number of observations of a histogram or summary.
	Count float64
}

// Reading maps metric family names to their values at one moment. Counter
// families are named as exposed, "_total" included.
type Reading map[string]Value

// Lookup returns the value of a metric name. Besides a family's own name it
// understands "x_count" and "x_sum" of a histogram or summary x (read as
// counters), and a counter's name without its "_total" suffix.
func (rd Reading) Lookup(name string) (Value, bool) {
	if v, ok := rd[name]; ok {
		return v, true
	}
	if v, ok := rd[name+"_total"]; ok && v.Type == TypeCounter {
		return v, true
	}
	if base, ok := strings.CutSuffix(name, "_count"); ok {
		if v, ok := rd[base]; ok && (v.Type == TypeHistogram || v.Type == TypeSummary) {
			return Value{Type: TypeCounter, Value: v.Count}, true
		}
	}
	if base, ok := strings.CutSuffix(name, "_sum"); ok {
		if v, ok := rd[base]; ok && (v.Type == TypeHistogram || v.Type == TypeSummary) {
			return Value{Type: TypeCounter, Value: v.Value}, true
		}
	}
	return Value{}, false
}

// ErrFormat is wrapped by the errors of Parse for input that is not a
// Prometheus exposition.
var ErrFormat = errors.New("not a Prometheus exposition")

// Parse reads a Prometheus exposition whose Content-Type is contentType:
// the text format (also assumed for an empty or unknown type), OpenMetrics
// 0.0.1 and 1.0.0, or delimited protobuf. Metric names may use UTF-8.
// OpenMetrics is parsed strictly and slowly (see MaxOpenMetricsBytes).
func Parse(r io.Reader, contentType string) (Reading, error) {
	fams, err := parseFamilies(r, contentType)
	if err != nil {
		return nil, err
	}
	rd := make(Reading, len(fams))
	for _, f := range fams {
		rd[f.GetName()] = fold(f)
	}
	return rd, nil
}

func parseFamilies(r io.Reader, contentType string) ([]*dto.MetricFamily, error) {
	format := expfmt.ResponseFormat(http.Header{"Content-Type": {contentType}})
	switch format.FormatType() {
	case expfmt.TypeOpenMetrics, expfmt.TypeProtoDelim:
		return decodeAll(expfmt.NewDecoder(r, format))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	return out, nil
}

func decodeAll(dec expfmt.Decoder) ([]*dto.MetricFamily, error) {
	var out []*dto.MetricFamily
	for {
		f := new(dto.MetricFamily)
		err := dec.Decode(f)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		out = append(out, f)
	}
}

// fold sums a family's label sets into one value.
func fold(f *dto.MetricFamily) Value {
	var v Value
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		v.Type = TypeCounter
	case dto.MetricType_GAUGE:
		v.Type = TypeGauge
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		v.Type = TypeHistogram
	case dto.MetricType_SUMMARY:
		v.Type = TypeSummary
	}
	for _, m := range f.GetMetric() {
		switch v.Type {
		case TypeCounter:
			v.Value += m.GetCounter().GetValue()
		case TypeGauge:
			v.Value += m.GetGauge().GetValue()
		case TypeHistogram:
			h := m.GetHistogram()
			v.Value += h.GetSampleSum()
			v.Count += float64(h.GetSampleCount()) + h.GetSampleCountFloat()
		case TypeSummary:
			s := m.GetSummary()
			v.Value += s.GetSampleSum()
			v.Count += float64(s.GetSampleCount())
		default:
			v.Value += m.GetUntyped().GetValue()
		}
	}
	return v
}
