package service

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loadlens/loadlens/store"
)

// serverMetrics are the agent's Prometheus metrics, on the Server's own
// registry.
type serverMetrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	active      prometheus.Gauge
	finished    *prometheus.CounterVec
	alerts      *prometheus.CounterVec
	subscribers prometheus.Gauge
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadlens_api_requests_total", Help: "API requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loadlens_api_request_duration_seconds", Help: "API request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loadlens_runs_active", Help: "Tests queued or running in this agent.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadlens_runs_finished_total", Help: "Tests this agent finished, by final state.",
		}, []string{"state"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadlens_alerts_total", Help: "Webhook alerts by result (delivered, failed).",
		}, []string{"result"}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loadlens_sse_subscribers", Help: "Open Server-Sent Events streams.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.active, m.finished, m.alerts, m.subscribers,
		&runsCollector{st: s.st, logger: s.logger}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *serverMetrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func (m *serverMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// runsCollector reports the runs in the store by state, across tenants.
type runsCollector struct {
	st     *store.Store
	logger *slog.Logger
}

var runsDesc = prometheus.NewDesc("loadlens_runs", "Runs in the store by state, all tenants.", []string{"state"}, nil)

// Describe implements prometheus.Collector.
func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- runsDesc }

// Collect implements prometheus.Collector.
func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.st.CountByState(ctx)
	if err != nil {
		c.logger.Error("metrics: counting runs", "error", err)
		ch <- prometheus.NewInvalidMetric(runsDesc, err)
		return
	}
	for _, st := range store.States {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
