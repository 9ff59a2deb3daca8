package js_test

import (
	"bufio"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// leanServer answers every request with a fixed 2-byte response, reading
// only request heads: the cheapest HTTP/1.1 keep-alive server, so that a
// benchmark sees mostly the generator.
func leanServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := conn.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String() + "/"
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
