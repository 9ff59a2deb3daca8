package loadtest

import (
	"context"
	"testing"

	"github.com/loadlens/loadlens/internal/leanserver"
	"github.com/loadlens/loadlens/scenarios"
)

// Engine overhead per request: a whole run of b.N requests from 50 VUs
// against the cheapest loopback HTTP/1.1 server (in the same process), so
// that allocs/op is the generator's per request: engine, HTTP client,
// samples, collector. ns/op counts both sides.
func BenchmarkRunRequests(b *testing.B) {
	baseURL, stop, err := leanserver.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	plan := Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 50, Iterations: int64(max(b.N, 50))}},
		Target:    &Target{BaseURL: baseURL, Endpoints: []Endpoint{{Path: "/"}}},
	}
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), plan)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got := res.Metrics["http_reqs"].Values["count"]; int(got) != max(b.N, 50) {
		b.Fatalf("%v requests, want %d", got, b.N)
	}
}
