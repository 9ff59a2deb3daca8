package js_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

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
		{"get+check+trend", `
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
const waiting = new Trend('waiting_time', true);
export default function () {
  const res = http.get(__ENV.URL);
  check(res, { 'status is 200': (r) => r.status === 200 });
  waiting.add(res.timings.waiting);
}
`}, // bench/peers' script
		{"noop", `export default function () {}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			url := leanServer(b)
			prog, err := js.Load(b.Context(), js.Source{Code: []byte(tc.code)}, js.Options{Env: map[string]string{"URL": url}})
			require.NoError(b, err)
			b.ReportAllocs()
			// The engine drives the iterations, so b.N of them run in one
			// test rather than one per b.Loop turn.
			top, err := loadtest.DecodeK6Options([]byte(`{"vus":1,"iterations":` + strconv.Itoa(b.N) + `}`))
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

// BenchmarkVUMemory is what one idle VU of a typical script keeps: b.N
// VUs each make one request and park in sleep(), the engine and their HTTP
// clients included. The server is in this process, so it closes every
// connection after its response: it then keeps nothing per VU that would
// count, and the VUs keep no idle connection either. heap-B/VU is the live heap and stack-B/VU the
// goroutine stack per VU once the garbage is collected; B/op and allocs/op
// are what creating a VU and running it to its sleep cost. Run it with a
// fixed count, as the measurements do:
//
//	go test -run '^$' -bench VUMemory -benchtime 2000x ./js
func BenchmarkVUMemory(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(srv.Close)
	url := srv.URL
	prog, err := js.Load(b.Context(), js.Source{Code: []byte(`
import http from 'k6/http';
import { check, sleep } from 'k6';
export default function () { check(http.get(__ENV.URL), { ok: (r) => r.status === 200 }); sleep(3600); }
`)}, js.Options{})
	require.NoError(b, err)
	top, err := loadtest.DecodeK6Options([]byte(`{"scenarios":{"idle":{"executor":"constant-vus","vus":` + strconv.Itoa(b.N) +
		`,"duration":"1h","gracefulStop":"0s"}}}`))
	require.NoError(b, err)
	plan := loadtest.Plan{Env: map[string]string{"URL": url}, Program: prog}
	_, err = top.Apply(&plan)
	require.NoError(b, err)

	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _, _ = loadtest.Run(ctx, plan) })
	deadline := time.Now().Add(time.Minute + time.Duration(b.N)*10*time.Millisecond)
	var stacks []byte
	for {
		n := 0
		n, stacks = sleeping(stacks)
		if n == b.N {
			break
		}
		require.True(b, time.Now().Before(deadline), "%d of %d VUs sleep", n, b.N)
		time.Sleep(100 * time.Millisecond) // polling, not synchronisation: the loop checks the state
	}
	b.StopTimer()
	runtime.GC()
	runtime.GC() // a stack shrinks by half per collection
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/VU")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(b.N), "stack-B/VU")
}

// sleeping counts the goroutines parked in a VU's sleep(), in buf (grown
// and returned for the next call).
func sleeping(buf []byte) (int, []byte) {
	if buf == nil {
		buf = make([]byte, 1<<20)
	}
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("loadtest.(*VU).Sleep(")), buf
		}
		buf = make([]byte, 2*len(buf))
	}
}
