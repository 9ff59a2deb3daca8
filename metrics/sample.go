package metrics

import "time"

// Sample is one measurement of a metric.
type Sample struct {
	Metric *Metric
	Time   time.Time
	Value  float64 // milliseconds for Time metrics, bytes for Data metrics
	Tags   Tags
	// Metadata holds k6's non-indexable values (such as "vu" and "iter"):
	// written to outputs but never used to group or select samples. Usually nil.
	Metadata map[string]string
}
