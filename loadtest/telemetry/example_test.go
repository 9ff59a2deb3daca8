package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// A Scraper reads a service's /metrics once at the start and then every
// interval; here the first scrape cancels the run.
func ExampleScraper() {
	reg := prometheus.NewRegistry()
	queue := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_bytes", Help: "Bytes queued."})
	reg.MustRegister(queue)
	queue.Set(4096)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	s := &telemetry.Scraper{
		Sources:  []telemetry.Source{&telemetry.Prometheus{URL: srv.URL + "/metrics"}},
		Interval: time.Second,
		Metrics:  []string{"queue_bytes"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	sums := s.Run(ctx, func(sc telemetry.Scrape) {
		for _, p := range sc.Points {
			fmt.Println(p.Metric, p.Kind, p.Value, p.Unit)
		}
		cancel()
	})
	fmt.Println("scrapes:", sums[0].Scrapes, "errors:", sums[0].Errors)
	fmt.Println("missing:", sums[0].Missing)
	// Output:
	// queue_bytes gauge 4096 bytes
	// scrapes: 1 errors: 0
	// missing: [process_resident_memory_bytes process_cpu_seconds_total]
}

func ExampleParse() {
	exposition := `# TYPE http_requests_total counter
http_requests_total{code="200"} 1027
http_requests_total{code="500"} 3
# TYPE request_seconds histogram
request_seconds_bucket{le="0.1"} 90
request_seconds_bucket{le="+Inf"} 100
request_seconds_sum 6.5
request_seconds_count 100
`
	rd, err := telemetry.Parse(strings.NewReader(exposition), "text/plain; version=0.0.4")
	if err != nil {
		fmt.Println(err)
		return
	}
	reqs, _ := rd.Lookup("http_requests_total")
	fmt.Println(reqs.Type, reqs.Value)
	count, _ := rd.Lookup("request_seconds_count")
	fmt.Println(count.Type, count.Value)
	// Output:
	// counter 1030
	// counter 100
}

func ExampleConfig_Validate() {
	var c telemetry.Config
	_ = json.Unmarshal([]byte(`{"prometheus": "localhost:9100/metrics", "interval": "1s", "timeout": "2s"}`), &c)
	fmt.Println(c.Validate())
	// Output:
	// telemetry.prometheus: want an http:// or https:// URL with a host, got "localhost:9100/metrics"
	// telemetry.timeout: must be shorter than the interval (1s), got 2s
}
