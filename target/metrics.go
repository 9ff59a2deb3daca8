package target

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Names of the metrics the target exposes on /metrics besides the Go and
// process collectors' (go_goroutines, go_memstats_heap_inuse_bytes,
// process_resident_memory_bytes, process_cpu_seconds_total, …).
const (
	// MetricRequests counts answered requests by route pattern and status.
	MetricRequests = "loadlens_target_requests_total"
	// MetricDuration is the histogram of answer times by route and status.
	MetricDuration = "loadlens_target_request_duration_seconds"
	// MetricInFlight is the number of requests being handled (Stats.InFlight).
	MetricInFlight = "loadlens_target_in_flight_requests"
	// MetricErrors counts injected errors (Stats.Errors).
	MetricErrors = "loadlens_target_injected_errors_total"
	// MetricRetainedBytes is the Leak profile's memory (Stats.RetainedBytes).
	MetricRetainedBytes = "loadlens_target_retained_bytes"
	// MetricSlotsInUse is the Saturate slots held (Stats.SlotsInUse).
	MetricSlotsInUse = "loadlens_target_slots_in_use"
	// MetricSlotWaiting is the requests queued for a slot (Stats.Waiting).
	MetricSlotWaiting = "loadlens_target_slot_waiting_requests"
	// MetricFaultActive is 1 while the fault window is open, labelled with
	// the profile: the ground truth for anomaly detection.
	MetricFaultActive = "loadlens_target_fault_active"
)

// promMetrics is the server's own registry and request instruments.
type promMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newPromMetrics(s *Server) *promMetrics {
	m := &promMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Requests answered by the demo target, by route pattern and status code.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: MetricDuration,
			Help: "Time to answer a request, injected latency included, by route pattern and status code.",
			// From a fast loopback answer to a slow degraded one.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		m.requests,
		m.duration,
		gauge(MetricInFlight, "Requests being handled, queued ones included (not /metrics, /healthz).",
			func() float64 { return float64(s.inFlight.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricErrors, Help: "Errors (500/503) injected by the error rate or the errors profile."},
			func() float64 { return float64(s.errors.Load()) }),
		gauge(MetricRetainedBytes, "Bytes retained by the leak profile.",
			func() float64 { return float64(s.leak.bytes.Load()) }),
		gauge(MetricSlotsInUse, "Saturate profile slots held.",
			func() float64 { return float64(s.Stats().SlotsInUse) }),
		gauge(MetricSlotWaiting, "Requests waiting for a saturate profile slot.",
			func() float64 { return float64(s.Stats().Waiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        MetricFaultActive,
			Help:        "1 while the configured fault profile or another fault is active, else 0.",
			ConstLabels: prometheus.Labels{"profile": s.cfg.Profile.String()},
		}, func() float64 {
			if s.Stats().FaultActive {
				return 1
			}
			return 0
		}),
	)
	return m
}

// series is one resolved (route, status) pair.
type series struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// routeMetrics resolves a route's series once per status code, so that the
// request path neither allocates nor hashes label values.
type routeMetrics struct {
	m     *promMetrics
	route string
	codes [600]atomic.Pointer[series]
}

func (m *promMetrics) route(name string) *routeMetrics {
	return &routeMetrics{m: m, route: name}
}

func (rm *routeMetrics) observe(code int, d time.Duration) {
	var s *series
	if code >= 0 && code < len(rm.codes) {
		s = rm.codes[code].Load()
	}
	if s == nil {
		lv := []string{rm.route, strconv.Itoa(code)}
		s = &series{rm.m.requests.WithLabelValues(lv...), rm.m.duration.WithLabelValues(lv...)}
		if code >= 0 && code < len(rm.codes) {
			rm.codes[code].Store(s)
		}
	}
	s.count.Inc()
	s.dur.Observe(d.Seconds())
}
