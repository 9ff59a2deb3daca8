package loadtest

import (
	"context"
	"crypto/sha256"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/telemetry"
	"github.com/loadlens/loadlens/scenarios"
)

func sleeper(d time.Duration) Funcs {
	return Funcs{"default": func(ctx context.Context, vu *VU) error { return vu.Sleep(ctx, d) }}
}

// finite returns the finite values of a series.
func finite(s *Series) []float64 {
	var out []float64
	for _, v := range s.Values {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// TestRunReadsTargetProcess watches this very process by its pid: one
// value a second in each target series, tagged with the source.
func TestRunReadsTargetProcess(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pid := os.Getpid()
		plan := Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 1, Duration: 5 * time.Second}},
			Program:   sleeper(100 * time.Millisecond),
			Telemetry: &Telemetry{PID: pid},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, StatusPassed, res.Status)
		assert.Empty(t, res.Warnings)
		source := "pid:" + strconv.Itoa(pid)
		require.NotNil(t, res.Target)
		require.Len(t, res.Target.Sources, 1)
		h := res.Target.Sources[0]
		assert.Equal(t, source, h.Source)
		assert.GreaterOrEqual(t, h.Scrapes, int64(5))
		assert.Zero(t, h.Errors)
		assert.Positive(t, h.RSSMaxBytes)
		assert.Empty(t, h.Missing)
		require.NotNil(t, res.Config.Telemetry)
		assert.Equal(t, pid, res.Config.Telemetry.PID)

		tags := map[string]string{"source": source}
		rss := res.Timeline.Find(SeriesTargetRSS, tags)
		require.NotNil(t, rss)
		assert.Equal(t, "bytes", rss.Unit)
		assert.GreaterOrEqual(t, len(finite(rss)), 5, "one value a second: %v", rss.Values)
		cpu := res.Timeline.Find(SeriesTargetCPU, tags)
		require.NotNil(t, cpu)
		assert.Equal(t, "%", cpu.Unit)
		assert.GreaterOrEqual(t, len(finite(cpu)), 4, "%v", cpu.Values)
		errs := res.Timeline.Find(SeriesTargetScrapeErr, tags)
		require.NotNil(t, errs)
		assert.Equal(t, "1/s", errs.Unit)
		for _, v := range finite(errs) {
			assert.Zero(t, v)
		}
		assert.Nil(t, res.Timeline.Find(SeriesTargetHeap, tags), "a process has no Go heap metric")
	})
}

// TestRunReadsTargetPrometheus scrapes a client_golang endpoint during a
// short real-time run, and shows that a failing or hanging endpoint is
// counted, not fatal, and holds nothing up.
func TestRunReadsTargetPrometheus(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	work := prometheus.NewCounter(prometheus.CounterOpts{Name: "work_total", Help: "Iterations."})
	reg.MustRegister(work, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	release := make(chan struct{})
	for _, tc := range []struct {
		name     string
		handler  http.Handler
		failures bool
	}{
		{name: "client_golang", handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})},
		{name: "failing", failures: true, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		})},
		{name: "hanging", failures: true, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			url := srv.URL + "/metrics"
			plan := Plan{
				Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 2, Duration: 3500 * time.Millisecond}},
				Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
					work.Inc()
					return vu.Sleep(ctx, 10*time.Millisecond)
				}},
				Telemetry: &Telemetry{Prometheus: url, Metrics: []string{"work_total"}}, // every 1 s, 800 ms timeout
			}
			res, err := Run(t.Context(), plan)
			require.NoError(t, err)
			assert.Equal(t, StatusPassed, res.Status, "a failed scrape never fails the run")
			require.NotNil(t, res.Target)
			h := res.Target.Sources[0]
			assert.Equal(t, url, h.Source)
			assert.GreaterOrEqual(t, h.Scrapes, int64(3))
			tags := map[string]string{"source": url}
			errs := res.Timeline.Find(SeriesTargetScrapeErr, tags)
			require.NotNil(t, errs)
			if tc.failures {
				assert.Equal(t, h.Scrapes, h.Errors)
				assert.Contains(t, res.Warnings, "target telemetry "+url+": "+strconv.FormatInt(h.Errors, 10)+" of "+
					strconv.FormatInt(h.Scrapes, 10)+" scrapes failed (last: "+h.LastError+")")
				total := 0.0
				for _, v := range finite(errs) {
					total += v
				}
				assert.Equal(t, float64(h.Errors), total, "every failed scrape is in the series: %v", errs.Values)
				assert.Nil(t, res.Timeline.Find(SeriesTargetRSS, tags))
				return
			}
			assert.LessOrEqual(t, h.Errors, int64(1), "a busy machine may time one scrape out: %s", h.LastError)
			for _, name := range []string{SeriesTargetRSS, SeriesTargetHeap, SeriesTargetGoroutines, SeriesTargetCPU} {
				s := res.Timeline.Find(name, tags)
				if assert.NotNil(t, s, name) {
					assert.NotEmpty(t, finite(s), name)
				}
			}
			w := res.Timeline.Find(TargetSeriesName("work_total"), tags)
			require.NotNil(t, w)
			assert.Equal(t, "target.work_total", w.Name)
			assert.Equal(t, "1/s", w.Unit)
			assert.Positive(t, slicesMax(finite(w)), "VUs did work: %v", w.Values)
		})
	}
	t.Cleanup(func() { close(release) })
}

func slicesMax(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func TestPlanTelemetry(t *testing.T) {
	t.Parallel()
	base := Plan{Scenarios: shared(1, 1), Program: sleeper(0)}

	bad := base
	bad.Telemetry = &Telemetry{Prometheus: "http://127.0.0.1/metrics", Interval: time.Millisecond}
	err := bad.Validate()
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Contains(t, err.Error(), "telemetry.interval: must be >= 100ms")

	secret := base
	secret.Telemetry = &Telemetry{Prometheus: "http://admin:s3cret@127.0.0.1/metrics"}
	require.NoError(t, secret.Validate())
	echo := secret.Echo()
	require.NotNil(t, echo.Telemetry)
	assert.Equal(t, "http://admin:%5BREDACTED%5D@127.0.0.1/metrics", echo.Telemetry.Prometheus)
	assert.Equal(t, "http://admin:s3cret@127.0.0.1/metrics", secret.Telemetry.Prometheus)

	spec, err := DecodeTestSpec([]byte(`{"test_type": "smoke", "target": {"base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/"}]},
		"telemetry": {"prometheus": "http://127.0.0.1:9100/metrics", "interval": "2s", "metrics": ["http_requests_total"]}}`))
	require.NoError(t, err)
	p, _, err := spec.Plan()
	require.NoError(t, err)
	assert.Equal(t, &Telemetry{Prometheus: "http://127.0.0.1:9100/metrics", Interval: 2 * time.Second,
		Metrics: []string{"http_requests_total"}}, p.Telemetry)

	_, err = DecodeTestSpec([]byte(`{"test_type": "smoke", "target": {"base_url": "http://127.0.0.1:1", "endpoints": [{"path": "/"}]},
		"telemetry": {"interval": "1s"}}`))
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Contains(t, err.Error(), "telemetry: name a source")
}

func TestTargetSeriesName(t *testing.T) {
	t.Parallel()
	for metric, want := range map[string]string{
		telemetry.MetricRSS: SeriesTargetRSS, telemetry.MetricCPU: SeriesTargetCPU,
		telemetry.MetricHeapInuse: SeriesTargetHeap, telemetry.MetricGoroutines: SeriesTargetGoroutines,
		"http_requests_total": "target.http_requests_total",
	} {
		assert.Equal(t, want, TargetSeriesName(metric), metric)
	}
}

// TestRunSamplesGeneratorHealth: the engine measures its own process once a
// second, into the timeline and the Result, so that a saturated generator
// can be told apart from a slow target. Each iteration burns real CPU while
// the synctest clock stands still, so the CPU the sampler sees is not zero.
func TestRunSamplesGeneratorHealth(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		buf := make([]byte, 1<<20)
		var sink atomic.Uint64
		plan := Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 1, Duration: 5 * time.Second}},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				for range 5 {
					sum := sha256.Sum256(buf)
					sink.Add(uint64(sum[0]))
				}
				return vu.Sleep(ctx, 100*time.Millisecond)
			}},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		g := res.Generator
		t.Logf("generator health: %+v", g)
		assert.Equal(t, runtime.GOMAXPROCS(0), g.CPUs)
		assert.Positive(t, g.RSSMaxBytes)
		rss := res.Timeline.Find(SeriesGeneratorRSS, nil)
		require.NotNil(t, rss)
		assert.Equal(t, "bytes", rss.Unit)
		assert.GreaterOrEqual(t, len(finite(rss)), 4, "one value a second: %v", rss.Values)
		for _, v := range finite(rss) {
			assert.LessOrEqual(t, v, g.RSSMaxBytes)
		}
		if runtime.GOOS != "linux" {
			return // process CPU time is measured on Linux only
		}
		cpu := res.Timeline.Find(SeriesGeneratorCPU, nil)
		require.NotNil(t, cpu)
		assert.Equal(t, "%", cpu.Unit)
		assert.GreaterOrEqual(t, len(finite(cpu)), 4, "one value a second: %v", cpu.Values)
		assert.Positive(t, g.CPUMax, "iterations burnt CPU")
		assert.LessOrEqual(t, g.CPUMax, 100.0)
		assert.LessOrEqual(t, g.CPUAvg, g.CPUMax)
		assert.Positive(t, g.CPUAvg)
		for _, v := range finite(cpu) {
			assert.LessOrEqual(t, v, g.CPUMax)
		}
		host := res.Timeline.Find(SeriesHostCPU, nil)
		require.NotNil(t, host, "the host's CPU, every process included")
		assert.GreaterOrEqual(t, len(finite(host)), 4, "one value a second: %v", host.Values)
		for _, v := range finite(host) {
			assert.True(t, v >= 0 && v <= 100, "host CPU %v %%", v)
		}
		sched := res.Timeline.Find(SeriesGeneratorSched, nil)
		require.NotNil(t, sched, "the generator's scheduling latency")
		assert.NotEmpty(t, finite(sched))
		for _, v := range finite(sched) {
			assert.True(t, v > 0 && v < 60_000, "p99 %v ms", v)
		}
	})
}
