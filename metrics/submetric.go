package metrics

import (
	"fmt"
	"strings"
)

// Submetric selects the samples of a parent metric whose tags contain every
// pair of Tags, written as k6 does: `http_req_duration{status:200}`.
type Submetric struct {
	Name   string // the selector as the user wrote it, kept for reports
	Parent string // the parent metric's name
	Suffix string // the text between the braces
	Tags   Tags
}

// Matches reports whether a sample of the parent metric with tags t belongs
// to the sub-metric.
func (s Submetric) Matches(t Tags) bool { return t.Contains(s.Tags) }

// String formats the selector canonically: parent{k1:v1,k2:v2}, keys sorted.
func (s Submetric) String() string {
	if s.Tags.Len() == 0 {
		return s.Parent
	}
	return s.Parent + s.Tags.String()
}

// MetricNameError reports a malformed metric or sub-metric name.
type MetricNameError struct {
	Name   string
	Reason string
}

func (e *MetricNameError) Error() string {
	return fmt.Sprintf("metric name %q: %s", e.Name, e.Reason)
}

// ParseMetricKey parses a metric name with an optional sub-metric selector,
// as k6 does: the braces must be balanced and the closing one last, every
// pair needs a ':', and keys and values are trimmed of spaces and quotes.
// A name without braces yields a Submetric with no tags. Parsing does not
// check that the metric exists; see [NewEvaluator].
func ParseMetricKey(name string) (Submetric, error) {
	open := strings.IndexByte(name, '{')
	if open < 0 {
		if strings.IndexByte(name, '}') >= 0 {
			return Submetric{}, &MetricNameError{name, "'}' without '{'"}
		}
		parent := strings.TrimSpace(name)
		if parent == "" {
			return Submetric{}, &MetricNameError{name, "empty metric name"}
		}
		return Submetric{Name: name, Parent: parent}, nil
	}
	parent := strings.TrimSpace(name[:open])
	if parent == "" {
		return Submetric{}, &MetricNameError{name, "empty metric name before '{'"}
	}
	if !strings.HasSuffix(name, "}") {
		return Submetric{}, &MetricNameError{name, "the selector must end with '}'"}
	}
	suffix := name[open+1 : len(name)-1]
	var tags Tags
	for i, pair := range strings.Split(suffix, ",") {
		k, v, ok := strings.Cut(pair, ":")
		if !ok {
			return Submetric{}, &MetricNameError{name, fmt.Sprintf("tag %d (%q) is not key:value", i+1, strings.TrimSpace(pair))}
		}
		k, v = trimTagText(k), trimTagText(v)
		if k == "" {
			return Submetric{}, &MetricNameError{name, fmt.Sprintf("tag %d has an empty key", i+1)}
		}
		tags = tags.With(k, v)
	}
	return Submetric{Name: name, Parent: parent, Suffix: suffix, Tags: tags}, nil
}

// trimTagText trims spaces and quotes until none are left at either end.
func trimTagText(s string) string { return strings.Trim(s, " \t\r\n\"'") }
