package telemetry_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// goRegistry is a client_golang registry as a Go service has one: the Go
// and process collectors and a counter with two label sets.
func goRegistry(t testing.TB) (*prometheus.Registry, prometheus.Counter) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs."}, []string{"kind"})
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.WithLabelValues("b").Add(2)
	return reg, c.WithLabelValues("a")
}

// serve starts a loopback server; it is closed when the test ends.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func fixed(contentType, body string, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func TestPrometheusRead(t *testing.T) {
	t.Parallel()
	reg, _ := goRegistry(t)
	for _, tc := range []struct {
		name    string
		handler http.Handler
		check   func(t *testing.T, rd telemetry.Reading)
		wantErr string
	}{
		{
			name:    "client_golang",
			handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			check: func(t *testing.T, rd telemetry.Reading) {
				for _, name := range telemetry.StandardMetrics() {
					_, ok := rd.Lookup(name)
					assert.True(t, ok, name)
				}
				assert.Equal(t, telemetry.Value{Type: telemetry.TypeCounter, Value: 2}, rd["jobs_total"])
			},
		},
		{
			// The exposition would not parse as OpenMetrics (see
			// TestParseClientGolangRegistry): the scrape asked for text.
			name:    "client_golang with OpenMetrics enabled serves text",
			handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}),
			check: func(t *testing.T, rd telemetry.Reading) {
				assert.Contains(t, rd, telemetry.MetricHeapInuse)
			},
		},
		{
			name:    "OpenMetrics only",
			handler: fixed(omType, "# TYPE jobs counter\njobs_total 5\n# EOF\n", http.StatusOK),
			check: func(t *testing.T, rd telemetry.Reading) {
				assert.Equal(t, telemetry.Reading{"jobs_total": {Type: telemetry.TypeCounter, Value: 5}}, rd)
			},
		},
		{
			name:    "OpenMetrics too large",
			handler: fixed(omType, strings.Repeat("# HELP x y\n", telemetry.MaxOpenMetricsBytes/10)+"# EOF\n", http.StatusOK),
			wantErr: "serve the text format",
		},
		{name: "status", handler: fixed(textType, "x 1\n", http.StatusServiceUnavailable), wantErr: "status 503"},
		{name: "garbage", handler: fixed(textType, "\x00\x01{{{", http.StatusOK), wantErr: telemetry.ErrFormat.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &telemetry.Prometheus{URL: serve(t, tc.handler)}
			rd, err := src.Read(t.Context())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, rd)
		})
	}
}

// TestPrometheusHangingEndpoint: a scrape ends with its context, however
// long the endpoint takes.
func TestPrometheusHangingEndpoint(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before the server closes
	s := &telemetry.Scraper{
		Sources:  []telemetry.Source{&telemetry.Prometheus{URL: url}},
		Interval: time.Hour, Timeout: 50 * time.Millisecond,
	}
	var got telemetry.Scrape
	ctx, cancel := context.WithCancel(t.Context())
	sums := s.Run(ctx, func(sc telemetry.Scrape) { got = sc; cancel() })
	require.Error(t, got.Err)
	assert.ErrorIs(t, got.Err, context.DeadlineExceeded)
	assert.Contains(t, got.Err.Error(), "timed out after 50ms")
	assert.GreaterOrEqual(t, got.Duration, 50*time.Millisecond)
	assert.Equal(t, int64(1), sums[0].Errors)
}

func TestPrometheusRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	src := &telemetry.Prometheus{URL: "http://user:hunter2@" + addr + "/metrics"}
	_, err = src.Read(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Equal(t, "http://user:%5BREDACTED%5D@"+addr+"/metrics", src.Name())
}

// With AllowIP, a scrape dials only approved addresses and follows no
// redirect (the agent gives a tenant's telemetry its allowed hosts).
func TestPrometheusAllowIP(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("up 1\n"))
	}))
	defer inside.Close()
	redirect := httptest.NewServer(http.RedirectHandler(inside.URL, http.StatusFound))
	defer redirect.Close()
	allowAll := func(netip.Addr) bool { return true }

	_, err := (&telemetry.Prometheus{URL: inside.URL, AllowIP: func(netip.Addr) bool { return false }}).Read(t.Context())
	require.ErrorContains(t, err, "is not allowed")
	_, err = (&telemetry.Prometheus{URL: redirect.URL, AllowIP: allowAll}).Read(t.Context())
	require.ErrorContains(t, err, "redirects are not followed")
	assert.Zero(t, hits.Load())
	reading, err := (&telemetry.Prometheus{URL: inside.URL, AllowIP: allowAll}).Read(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, reading)
	_, err = (&telemetry.Prometheus{URL: redirect.URL}).Read(t.Context()) // no AllowIP: as before
	require.NoError(t, err)
}

// TestScraperAgainstClientGolang scrapes a real client_golang endpoint on
// a short interval and derives rates from its counters.
func TestScraperAgainstClientGolang(t *testing.T) {
	t.Parallel()
	reg, jobs := goRegistry(t)
	url := serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &telemetry.Scraper{
		Sources:  []telemetry.Source{&telemetry.Prometheus{URL: url}},
		Interval: 100 * time.Millisecond,
		Timeout:  10 * time.Second, // a busy machine is no failure here
		Metrics:  []string{"jobs_total", "absent_metric"},
	}
	ctx, cancel := context.WithCancel(t.Context())
	var scrapes []telemetry.Scrape
	sums := s.Run(ctx, func(sc telemetry.Scrape) {
		scrapes = append(scrapes, sc)
		jobs.Add(10)
		if len(scrapes) == 3 {
			cancel()
		}
	})
	require.Len(t, scrapes, 3)
	byMetric := map[string][]telemetry.Point{}
	for _, sc := range scrapes {
		require.NoError(t, sc.Err)
		for _, p := range sc.Points {
			byMetric[p.Metric] = append(byMetric[p.Metric], p)
		}
	}
	for _, name := range []string{telemetry.MetricRSS, telemetry.MetricHeapInuse, telemetry.MetricGoroutines} {
		require.Len(t, byMetric[name], 3, name)
		assert.Equal(t, telemetry.KindGauge, byMetric[name][0].Kind)
		assert.Positive(t, byMetric[name][0].Value)
	}
	assert.Equal(t, "bytes", byMetric[telemetry.MetricRSS][0].Unit)
	require.Len(t, byMetric[telemetry.MetricCPU], 2, "a rate needs two scrapes")
	assert.Equal(t, "s/s", byMetric[telemetry.MetricCPU][0].Unit)
	require.Len(t, byMetric["jobs_total"], 2)
	for i, p := range byMetric["jobs_total"] {
		assert.Equal(t, telemetry.KindRate, p.Kind)
		assert.Equal(t, "1/s", p.Unit)
		dt := scrapes[i+1].Time.Sub(scrapes[i].Time).Seconds()
		assert.InEpsilon(t, 10/dt, p.Value, 1e-9, "10 jobs between two scrapes")
	}
	require.Len(t, sums, 1)
	assert.Equal(t, int64(3), sums[0].Scrapes)
	assert.Zero(t, sums[0].Errors)
	assert.Equal(t, []string{"absent_metric"}, sums[0].Missing)
	assert.Positive(t, sums[0].RSSMaxBytes)
	assert.Positive(t, sums[0].GoroutinesMax)
}

// FuzzPrometheusRead: whatever an endpoint answers, a scrape does not
// panic, and reads what Parse reads.
func FuzzPrometheusRead(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.body, tc.contentType)
	}
	var mu sync.Mutex
	var body, contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ct := body, contentType
		mu.Unlock()
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write([]byte(b))
	}))
	defer srv.Close()
	src := &telemetry.Prometheus{URL: srv.URL}
	f.Fuzz(func(t *testing.T, b, ct string) {
		ct = strings.TrimSpace(ct)
		if strings.IndexFunc(ct, func(r rune) bool { return r < 0x20 || r >= 0x7f }) >= 0 {
			return // not a header value the client reads back as sent
		}
		mu.Lock()
		body, contentType = b, ct
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := src.Read(ctx)
		want, werr := telemetry.Parse(strings.NewReader(b), ct)
		if err != nil {
			if werr == nil {
				assert.ErrorContains(t, err, "OpenMetrics exposition of")
			}
			return
		}
		require.NoError(t, werr)
		assert.Equal(t, len(want), len(got))
	})
}
