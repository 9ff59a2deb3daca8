package k6http_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/leanserver"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// leanServer serves a 2-byte page from the cheapest HTTP/1.1 server, so
// that a benchmark sees mostly the client.
func leanServer(tb testing.TB) string {
	tb.Helper()
	baseURL, stop, err := leanserver.Start("127.0.0.1:0")
	require.NoError(tb, err)
	tb.Cleanup(stop)
	return baseURL
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// engineSink copies samples the way the engine's VU does: into a pending
// slice handed over every 64 samples.
type engineSink struct{ pending []metrics.Sample }

func (s *engineSink) emit(batch []metrics.Sample) {
	s.pending = append(s.pending, batch...)
	if len(s.pending) >= 64 {
		s.pending = s.pending[:0]
	}
}

// BenchmarkDo is one GET of a 2-byte page on a keep-alive loopback
// connection, with k6's default tags, VU tags and sample emission. The
// server runs in the same process, so cpu-µs/req counts both sides; see
// internal/cpubench for the client alone.
func BenchmarkDo(b *testing.B) {
	url := leanServer(b) + "/"
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			sink := &engineSink{pending: make([]metrics.Sample, 0, 128)}
			c, err := k6http.NewClient(metrics.NewRegistry(), sink.emit, k6http.Options{DisableFastPath: p.std})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := &k6http.Request{URL: url, VUTags: metrics.NewTags("scenario", "default", "group", "")}
			if r, err := c.Do(bg, req); err != nil || r.Status != http.StatusOK {
				b.Fatalf("warm-up: %v %+v", err, r)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				r, err := c.Do(bg, req)
				if err != nil || r.Status != http.StatusOK {
					b.Fatalf("%v %+v", err, r)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/req")
		})
	}
}

// BenchmarkNewClient shows what a VU's client costs before its first
// request (B/op), the per-VU memory the engine pays for HTTP.
func BenchmarkNewClient(b *testing.B) {
	reg := metrics.NewRegistry()
	b.ReportAllocs()
	for b.Loop() {
		c, err := k6http.NewClient(reg, nil, k6http.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}
