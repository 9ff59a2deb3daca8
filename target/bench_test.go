package target_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loadlens/loadlens/target"
)

// BenchmarkRoot measures the handler of / as the peer benchmark hits it:
// healthy zero Config, through ServeHTTP with a reused recorder.
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
		clear(w.Header())
		w.Body.Reset()
		w.Code = 200
		h.ServeHTTP(w, req)
	}
	if w.Code != http.StatusOK || w.Body.String() != "ok" {
		b.Fatalf("got %d %q", w.Code, w.Body)
	}
}
