package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// ErrMetricConflict is returned when a name is registered again with a
// different type or value type.
var ErrMetricConflict = errors.New("metric already registered with another type")

// ErrInvalidMetricName is returned for names that break k6's rule for custom
// metrics: a letter or underscore, then 1 to 128 letters, digits or underscores.
var ErrInvalidMetricName = errors.New("invalid metric name")

var metricNameRule = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{1,128}$`)

// Registry holds the metrics of one run by name. The zero value is not
// usable; call [NewRegistry]. A Registry is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	metrics map[string]*Metric
}

// NewRegistry returns a registry that already holds k6's built-in metrics.
func NewRegistry() *Registry {
	r := &Registry{metrics: make(map[string]*Metric)}
	for _, b := range builtins() {
		r.metrics[b.name] = &Metric{Name: b.name, Type: b.typ, Contains: b.contains}
	}
	return r
}

// Register returns the metric called name, creating it if needed. Registering
// an existing name with the same type and value type returns the existing
// metric; with another type it fails with [ErrMetricConflict]. A name that
// breaks k6's rule fails with [ErrInvalidMetricName].
func (r *Registry) Register(name string, typ MetricType, contains ValueType) (*Metric, error) {
	if !metricNameRule.MatchString(name) {
		return nil, fmt.Errorf("%w %q: must match %s", ErrInvalidMetricName, name, metricNameRule)
	}
	if _, ok := metricTypeNames[typ]; !ok {
		return nil, fmt.Errorf("metric %q: unknown metric type %d", name, typ)
	}
	if _, ok := valueTypeNames[contains]; !ok {
		return nil, fmt.Errorf("metric %q: unknown value type %d", name, contains)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.metrics[name]; ok {
		if m.Type != typ || m.Contains != contains {
			return nil, fmt.Errorf("%w: %q is a %s of %s, not a %s of %s",
				ErrMetricConflict, name, m.Type, m.Contains, typ, contains)
		}
		return m, nil
	}
	m := &Metric{Name: name, Type: typ, Contains: contains}
	r.metrics[name] = m
	return m, nil
}

// MustRegister is like [Registry.Register] but panics on error. It is meant
// for names fixed at compile time.
func (r *Registry) MustRegister(name string, typ MetricType, contains ValueType) *Metric {
	m, err := r.Register(name, typ, contains)
	if err != nil {
		panic(err)
	}
	return m
}

// Get returns the metric called name, or nil.
func (r *Registry) Get(name string) *Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.metrics[name]
}

// All returns every registered metric, sorted by name.
func (r *Registry) All() []*Metric {
	r.mu.RLock()
	all := make([]*Metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		all = append(all, m)
	}
	r.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}
