package js

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkNewVU is the cost of one VU's runtime after the init code of a
// script that imports k6/http and k6: heap-B/VU is what each VU keeps.
func BenchmarkNewVU(b *testing.B) {
	prog, err := Load(b.Context(), Source{Code: []byte(`
import http from 'k6/http';
import { check, sleep } from 'k6';
export default function () { check(http.get(__ENV.URL), { ok: (r) => r.status === 200 }); sleep(1); }
`)}, Options{})
	require.NoError(b, err)
	b.ReportAllocs()
	var keep []*VU
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		vu, err := prog.newVU(b.Context(), nil, 1)
		require.NoError(b, err)
		keep = append(keep, vu)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(keep)), "heap-B/VU")
	runtime.KeepAlive(keep)
}
