package js_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/leanserver"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
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

// trivialScript is the benchmark script: one GET of a 2-byte page.
const trivialScript = `
import http from 'k6/http';
export default function () { http.get(__ENV.URL); }
`

// BenchmarkIteration is one iteration of the trivial script on one VU,
// engine included: the JavaScript call, the request and its samples.
func BenchmarkIteration(b *testing.B) {
	for _, tc := range []struct{ name, code string }{
		{"get", trivialScript},
		{"get+check", `
import http from 'k6/http';
import { check } from 'k6';
export default function () { const r = http.get(__ENV.URL); check(r, { 'ok': (r) => r.status === 200 && r.body === 'ok' }); }
`},
		{"noop", `export default function () {}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			url := leanServer(b)
			prog, err := js.Load(b.Context(), js.Source{Code: []byte(tc.code)}, js.Options{Env: map[string]string{"URL": url}})
			require.NoError(b, err)
			b.ReportAllocs()
			// The engine drives the iterations, so b.N of them run in one
			// test rather than one per b.Loop turn.
			top, err := loadtest.ParseK6Options([]byte(`{"vus":1,"iterations":` + strconv.Itoa(b.N) + `}`))
			require.NoError(b, err)
			plan := loadtest.Plan{Env: map[string]string{"URL": url}, Program: prog}
			_, err = top.Apply(&plan)
			require.NoError(b, err)
			b.ResetTimer()
			res, err := loadtest.Run(b.Context(), plan)
			require.NoError(b, err)
			require.Empty(b, res.IterationErrors)
		})
	}
}
