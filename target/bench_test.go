package target_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loadlens/loadlens/target"
)

// BenchmarkRoot measures the handler of / as the peer benchmark hits it:
// the healthy zero Config, through ServeHTTP. The recorder is reused so that
// only the target's own cost is counted (routing, counters, the metrics
// series, the write); it must not allocate.
func BenchmarkRoot(b *testing.B) {
	srv, err := target.New(target.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		h.ServeHTTP(w, req)
	}
	if w.Code != http.StatusOK || w.Body.String() != "ok" {
		b.Fatalf("got %d %q", w.Code, w.Body)
	}
}

// BenchmarkRootParallel is BenchmarkRoot from every P at once: the shared
// counters are atomics, so it should scale.
func BenchmarkRootParallel(b *testing.B) {
	srv, err := target.New(target.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		for pb.Next() {
			w.Body.Reset()
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkProduct is a load route with a path value and a JSON answer.
func BenchmarkProduct(b *testing.B) {
	srv, err := target.New(target.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	req := httptest.NewRequest(http.MethodGet, "/api/products/42", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		h.ServeHTTP(w, req)
	}
	if w.Code != http.StatusOK {
		b.Fatalf("got %d", w.Code)
	}
}
