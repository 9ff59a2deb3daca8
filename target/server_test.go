package target_test

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{ErrorRate: 0.5})
	other, oc := start(t, target.Config{}) // a second registry in the same process
	for range 10 {
		do(t, c, "GET", srv.URL()+"/", "")
	}
	do(t, c, "GET", srv.URL()+"/status/404", "")
	do(t, oc, "GET", other.URL()+"/", "")

	fams := scrape(t, c, srv)
	for _, name := range []string{
		"process_resident_memory_bytes", "process_cpu_seconds_total",
		"go_goroutines", "go_memstats_heap_inuse_bytes",
		target.MetricRequests, target.MetricDuration, target.MetricInFlight, target.MetricErrors,
		target.MetricRetainedBytes, target.MetricSlotsInUse, target.MetricSlotWaiting, target.MetricFaultActive,
	} {
		assert.Contains(t, fams, name)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{target.MetricRequests, []string{"route", "/", "status", "200"}, 5},
		{target.MetricErrors, nil, 5},
		{target.MetricRequests, []string{"route", "/status/{code}", "status", "404"}, 1},
		{target.MetricDuration, []string{"route", "/", "status", "200"}, 5}, // sample count
		{target.MetricInFlight, nil, 0},
		{target.MetricFaultActive, []string{"profile", "healthy"}, 0},
	} {
		got, ok := value(fams, tc.name, tc.labels...)
		if assert.True(t, ok, "%s %v", tc.name, tc.labels) {
			assert.Equal(t, tc.want, got, "%s %v", tc.name, tc.labels)
		}
	}
	e500, _ := value(fams, target.MetricRequests, "route", "/", "status", "500")
	e503, _ := value(fams, target.MetricRequests, "route", "/", "status", "503")
	assert.Equal(t, 5.0, e500+e503)
	assert.Equal(t, uint64(5), srv.Stats().Errors, "half of the 10 load requests")
	rss, _ := value(fams, "process_resident_memory_bytes")
	assert.Positive(t, rss)

	// The same registry is available in process.
	gathered, err := srv.Gatherer().Gather()
	require.NoError(t, err)
	assert.NotEmpty(t, gathered)

	// The other server counted only its own request.
	ofams := scrape(t, oc, other)
	got, _ := value(ofams, target.MetricRequests, "route", "/", "status", "200")
	assert.Equal(t, 1.0, got)
}

func TestListenOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr    string
		ok      bool
		notLoop bool
	}{
		{addr: "127.0.0.1:0", ok: true},
		{addr: "127.0.0.2:0", ok: true},
		{addr: "localhost:0", ok: true},
		{addr: "[::1]:0", ok: true},
		{addr: "0.0.0.0:0", notLoop: true},
		{addr: ":0", notLoop: true},
		{addr: "[::]:0", notLoop: true},
		{addr: "192.0.2.10:0", notLoop: true},
		{addr: "10.0.0.1:8080", notLoop: true},
		{addr: "example.com:80", notLoop: true},
		{addr: "127.0.0.1"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			srv, err := target.New(target.Config{})
			require.NoError(t, err)
			defer srv.Close()
			err = srv.Listen(t.Context(), tc.addr)
			if tc.ok {
				if err != nil && strings.Contains(tc.addr, "::1") {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(srv.URL(), "http://"), srv.URL())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), strconv.Quote(tc.addr))
			if tc.notLoop {
				require.ErrorIs(t, err, target.ErrNotLoopback)
			}
			assert.Nil(t, srv.Addr())
			assert.Empty(t, srv.URL())
		})
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	srv, err := target.New(target.Config{})
	require.NoError(t, err)
	defer srv.Close()
	require.NoError(t, srv.Listen(t.Context(), "127.0.0.1:0"))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = srv.Serve(ctx) })

	c := &http.Client{Transport: &http.Transport{}}
	var code int
	wg.Go(func() {
		resp, err := c.Get(srv.URL() + "/delay/200")
		if assert.NoError(t, err) {
			code = resp.StatusCode
			resp.Body.Close()
		}
	})
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	wg.Wait()
	assert.NoError(t, serveErr)
	assert.Equal(t, 200, code, "the running request finished")
	_, err = c.Get(srv.URL() + "/")
	assert.Error(t, err, "no longer listening")
	require.ErrorIs(t, srv.Serve(t.Context()), target.ErrClosed, "Serve runs once")
}

func TestServeCancelsAfterGrace(t *testing.T) {
	t.Parallel()
	srv, err := target.New(target.Config{ShutdownGrace: 20 * time.Millisecond})
	require.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, srv.Start(ctx, "127.0.0.1:0"))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + "/delay/30000")
		if err == nil {
			resp.Body.Close()
			err = errors.New(resp.Status)
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	t0 := time.Now()
	require.Error(t, <-errc)
	assert.Less(t, time.Since(t0), 10*time.Second, "cancelled after the grace, not after the delay")
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 0 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), srv.Stats().Cancelled)
}

func TestLifecycleErrors(t *testing.T) {
	t.Parallel()
	srv, err := target.New(target.Config{})
	require.NoError(t, err)
	require.ErrorIs(t, srv.Serve(t.Context()), target.ErrClosed, "Serve before Listen")
	require.NoError(t, srv.Listen(t.Context(), "127.0.0.1:0"))
	assert.ErrorContains(t, srv.Listen(t.Context(), "127.0.0.1:0"), "already listening")
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "idempotent")
	require.ErrorIs(t, srv.Listen(t.Context(), "127.0.0.1:0"), target.ErrClosed)
	require.ErrorIs(t, srv.Start(t.Context(), "127.0.0.1:0"), target.ErrClosed)
	require.ErrorIs(t, srv.Serve(t.Context()), target.ErrClosed)
	assert.Equal(t, 200, serve(t.Context(), srv.Handler(), "GET", "/").Code, "the handler still answers")
}

// target is a leaf: none of its files imports another loadlens package.
func TestImportsNoLoadlensPackage(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/loadlens/loadlens") && !(strings.HasSuffix(f, "_test.go") && p == "github.com/loadlens/loadlens/target") {
				t.Errorf("%s imports %s: target must stay a leaf", f, p)
			}
		}
	}
}
