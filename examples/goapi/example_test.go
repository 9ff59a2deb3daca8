package goapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// The README's example: 50 requests a second for two seconds against a
// local server, a threshold on the scenario's requests (a VU's requests
// carry its scenario and group tags), then the analysis.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx := context.Background()

	ths, _ := metrics.ParseThresholds(map[string][]string{
		"http_req_failed":                      {"rate<0.01"},
		"http_req_duration{scenario:checkout}": {"p(95)<500"},
	})
	res, err := loadtest.Run(ctx, loadtest.Plan{
		Scenarios: scenarios.Scenarios{"checkout": scenarios.ConstantArrivalRate{
			Rate: 50, TimeUnit: time.Second, Duration: 2 * time.Second, PreAllocatedVUs: 5}},
		Thresholds: ths,
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			resp, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + "/checkout"})
			if err != nil {
				return err // the run is stopping
			}
			vu.Check("status 200", resp.Status == 200)
			return nil
		}},
	})
	if err != nil {
		panic(err)
	}
	report := anomaly.Analyze(res, nil, anomaly.Options{})
	for _, v := range res.Thresholds {
		fmt.Println(v.Metric, v.Threshold.Source, v.Status)
	}
	_ = report.Findings // what went wrong, if anything: see anomaly.Finding
	// Output:
	// http_req_duration{scenario:checkout} p(95)<500 passed
	// http_req_failed rate<0.01 passed
}
