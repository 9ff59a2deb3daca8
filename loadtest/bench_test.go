package loadtest

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/loadlens/loadlens/scenarios"
)

// Engine overhead per request: a whole run of b.N requests from 50 VUs
// against a trivial loopback handler (in the same process). ns/op and
// allocs/op are per request, engine and HTTP client included.
func BenchmarkRunRequests(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	plan := Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 50, Iterations: int64(max(b.N, 50))}},
		Target:    &Target{BaseURL: "http://" + ln.Addr().String(), Endpoints: []Endpoint{{Path: "/"}}},
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
