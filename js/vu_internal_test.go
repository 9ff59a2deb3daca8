package js

import (
	"context"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
	"unsafe"

	"github.com/grafana/sobek"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkNewVU is the cost of one VU's runtime after its init code:
// heap-B/VU is what each VU keeps once the garbage is collected, B/op and
// allocs/op what making it costs. The ES modules but one run flat (see
// flatModule); http+check/module is the same script evaluated as a module.
func BenchmarkNewVU(b *testing.B) {
	for _, tc := range []struct{ name, code string }{
		{"empty", "// nothing\nexport default function () {}"},
		{"http+check", `
import http from 'k6/http';
import { check, sleep } from 'k6';
export default function () { check(http.get(__ENV.URL), { ok: (r) => r.status === 200 }); sleep(1); }
`},
		// A namespace import keeps the script a module (see flatModule).
		{"http+check/module", `
import * as http from 'k6/http';
import { check, sleep } from 'k6';
export default function () { check(http.get(__ENV.URL), { ok: (r) => r.status === 200 }); sleep(1); }
`},
		{"commonjs", `
const http = require('k6/http');
const { check, sleep } = require('k6');
exports.default = function () { check(http.get(__ENV.URL), { ok: (r) => r.status === 200 }); sleep(1); };
`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			prog, err := Load(b.Context(), Source{Code: []byte(tc.code)}, Options{})
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
		})
	}
}

// countingFS counts the files opened.
type countingFS struct {
	fstest.MapFS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.MapFS.Open(name)
}

func (c *countingFS) ReadFile(name string) ([]byte, error) {
	c.opens.Add(1)
	return c.MapFS.ReadFile(name)
}

// TestSharedAcrossVUs checks that many VUs share what the program read and
// compiled once: the files (scripts and open()ed data are read once), the
// compiled modules, open()'s text and SharedArray's data.
func TestSharedAcrossVUs(t *testing.T) {
	t.Parallel()
	fsys := &countingFS{MapFS: fstest.MapFS{
		"main.js": {Data: []byte(`
import { value } from './lib.js';
import { SharedArray } from 'k6/data';
export const text = open('./data.txt');
export const list = new SharedArray('list', () => [1, 2, 3]);
export default function () {}
`)},
		"lib.js":   {Data: []byte("export const value = 1;\n")},
		"data.txt": {Data: []byte("0123456789")},
	}}
	prog, err := Load(t.Context(), Source{Path: "main.js", FS: fsys}, Options{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, fsys.opens.Load(), "main.js, lib.js and data.txt, once each")
	var wg sync.WaitGroup
	vus := make([]*VU, 20)
	for i := range vus {
		wg.Go(func() {
			vu, err := prog.newVU(t.Context(), nil, uint64(i+1))
			assert.NoError(t, err)
			vus[i] = vu
		})
	}
	wg.Wait()
	assert.EqualValues(t, 3, fsys.opens.Load(), "no VU reads a file again")
	assert.Len(t, prog.loader.records, 2, "two modules compiled, once")
	var first *byte
	for _, vu := range vus {
		require.NotNil(t, vu)
		s := vu.ns.Get("text").Export().(string)
		if first == nil {
			first = unsafe.StringData(s)
		}
		assert.Same(t, first, unsafe.StringData(s), "open() text is one string for all VUs")
		assert.Equal(t, int64(3), vu.ns.Get("list").ToObject(vu.rt).Get("length").ToInteger())
	}
	assert.Len(t, prog.loader.shared, 1)
}

// TestInterrupt checks that a runaway loop stops when the context ends,
// and that the runtime is usable afterwards.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	prog, err := Load(t.Context(), Source{Code: []byte(`
let spins = 0;
export function spin() { for (;;) { spins++; } }
export function count() { return spins > 0; }
export default function () {}
`)}, Options{})
	require.NoError(t, err)
	vu, err := prog.newVU(t.Context(), nil, 1)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = vu.call(ctx, "spin", vu.export("spin"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	v, err := vu.call(t.Context(), "count", vu.export("count"))
	require.NoError(t, err, "the interrupt is cleared")
	assert.True(t, v.ToBoolean())
}

// TestDurationOf checks params.timeout values.
func TestDurationOf(t *testing.T) {
	t.Parallel()
	rt := sobek.New()
	for _, c := range []struct {
		in   any
		want time.Duration
		ok   bool
	}{
		{int64(1500), 1500 * time.Millisecond, true},
		{2.5, 2500 * time.Microsecond, true},
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"250", 250 * time.Millisecond, true},
		{"soon", 0, false},
		{nil, 0, false},
		{true, 0, false},
	} {
		d, ok := durationOf(rt.ToValue(c.in))
		assert.Equal(t, c.ok, ok, "%v", c.in)
		assert.Equal(t, c.want, d, "%v", c.in)
	}
}

// FuzzDurationOf: never panics; a duration string that parses formats and
// parses back to the same duration.
func FuzzDurationOf(f *testing.F) {
	for _, s := range []string{"30s", "1m30s", "250", "1.5", "-1s", "1d2h", "", "x", "9999999999999999999"} {
		f.Add(s)
	}
	rt := sobek.New()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := durationOf(rt.ToValue(s))
		if !ok {
			return
		}
		back, ok := durationOf(rt.ToValue(d.String()))
		if ok && back != d {
			t.Fatalf("%q: %v, then %v", s, d, back)
		}
	})
}

// TestLoadReleasesItsContext checks that a program loaded under a
// long-lived context does not stay registered on it.
func TestLoadReleasesItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	prog, err := Load(ctx, Source{Code: []byte("export default function () {}")}, Options{})
	require.NoError(t, err)
	vu, err := prog.newVU(ctx, nil, 1)
	require.NoError(t, err)
	assert.Nil(t, vu.watched, "init code's context is let go")
	_, err = vu.call(ctx, "default", vu.export("default"))
	require.NoError(t, err)
	assert.NotNil(t, vu.watched, "an iteration's context is kept for the next")
	vu.unwatch()
	assert.Nil(t, vu.watched)
}
