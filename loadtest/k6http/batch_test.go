package k6http_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/inflight"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

func gets(urls ...string) []*k6http.Request {
	reqs := make([]*k6http.Request, len(urls))
	for i, u := range urls {
		reqs[i] = &k6http.Request{URL: u}
	}
	return reqs
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		lim     k6http.BatchLimits
		perHost []int // requests to each of len(perHost) servers
		want    int   // the most in flight at once, all servers together
	}{
		{name: "k6 defaults: 6 to one host at once", perHost: []int{6}, want: 6},
		{name: "batchPerHost 6 of 8", perHost: []int{8}, want: 6},
		{name: "batchPerHost 2", lim: k6http.BatchLimits{PerHost: 2}, perHost: []int{6}, want: 2},
		{name: "batchPerHost is per host", lim: k6http.BatchLimits{PerHost: 2}, perHost: []int{3, 3}, want: 4},
		{name: "batch 3 over two hosts", lim: k6http.BatchLimits{Parallel: 3}, perHost: []int{3, 3}, want: 3},
		{name: "no limits", lim: k6http.BatchLimits{Parallel: -1, PerHost: -1}, perHost: []int{25}, want: 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := inflight.New(tc.want)
			total := 0
			for _, n := range tc.perHost {
				total += n
			}
			if tc.want < total {
				g.Linger = 20 * time.Millisecond
			}
			var urls, paths []string
			for s, n := range tc.perHost {
				srv := httptest.NewServer(g)
				t.Cleanup(srv.Close)
				for i := range n {
					p := fmt.Sprintf("/s%d/r%d", s, i)
					urls, paths = append(urls, srv.URL+p), append(paths, p)
				}
			}
			rec := &recorder{}
			c := newClient(t, rec, k6http.Options{})
			resps, err := c.Batch(t.Context(), gets(urls...), tc.lim)
			require.NoError(t, err)
			assert.Equal(t, tc.want, g.Max(), "most requests in flight at once")
			require.Len(t, resps, len(urls))
			for i, r := range resps {
				assert.Equal(t, 200, r.Status)
				assert.Equal(t, paths[i], string(r.Body), "responses in the order of the requests")
			}
			require.Len(t, rec.batches, len(urls), "one hop's samples per request")
			for i, b := range rec.batches {
				assert.Equal(t, urls[i], tagMap(b)["url"], "samples in the order of the requests")
				assert.Len(t, b, 9)
			}
			sent, received := c.TakeIO()
			assert.Positive(t, sent, "the batch clients' bytes count in data_sent")
			assert.Positive(t, received, "and in data_received")
		})
	}
}

func TestBatchInterrupted(t *testing.T) {
	t.Parallel()
	g := inflight.New(4)
	g.Hold = true // every request waits for its context
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	stop := errors.New("hard stop")
	go func() {
		select {
		case <-g.Full(): // 4 requests in flight
			cancel(stop)
		case <-ctx.Done():
		}
	}()
	c := newClient(t, &recorder{}, k6http.Options{})
	resps, err := c.Batch(ctx, gets(srv.URL+"/a", srv.URL+"/b", srv.URL+"/c", srv.URL+"/d", srv.URL+"/e"),
		k6http.BatchLimits{Parallel: 4})
	require.ErrorIs(t, err, stop, "the context's end interrupts every request of the batch")
	assert.Nil(t, resps)
	assert.Equal(t, 4, g.Max())
}

func TestBatchCookies(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: r.URL.Query().Get("n"), Value: "1", Path: "/"})
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, r.Header.Get("Cookie"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := newClient(t, nil, k6http.Options{})
	own, err := cookiejar.New(nil)
	require.NoError(t, err)

	_, err = c.Batch(t.Context(), []*k6http.Request{
		{URL: srv.URL + "/set?n=vu"}, {URL: srv.URL + "/set?n=own", Jar: own},
	}, k6http.BatchLimits{})
	require.NoError(t, err)
	r, err := c.Do(t.Context(), &k6http.Request{URL: srv.URL + "/get"})
	require.NoError(t, err)
	assert.Equal(t, "vu=1", string(r.Body), "a batch stores cookies in the client's jar; Request.Jar's in that jar")

	resps, err := c.Batch(t.Context(), []*k6http.Request{
		{URL: srv.URL + "/get"}, {URL: srv.URL + "/get", Jar: own},
	}, k6http.BatchLimits{})
	require.NoError(t, err)
	assert.Equal(t, "vu=1", string(resps[0].Body), "a batch sends the client's jar")
	assert.Equal(t, "own=1", string(resps[1].Body), "Request.Jar replaces the client's jar")

	c.ResetCookies()
	resps, err = c.Batch(t.Context(), gets(srv.URL+"/get"), k6http.BatchLimits{})
	require.NoError(t, err)
	assert.Empty(t, string(resps[0].Body), "a batch after ResetCookies uses the new jar")
}

func TestBatchNetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(inflight.New(1))
	t.Cleanup(srv.Close)
	rec := &recorder{}
	c := newClient(t, rec, k6http.Options{})
	resps, err := c.Batch(t.Context(), gets(refusedURL(t), srv.URL+"/ok", "nope://x"), k6http.BatchLimits{})
	require.NoError(t, err, "a request's failure is its response's, not the batch's")
	require.Len(t, resps, 3)
	assert.Equal(t, 0, resps[0].Status)
	assert.NotEmpty(t, resps[0].Error)
	assert.Equal(t, 200, resps[1].Status)
	assert.Equal(t, k6http.CodeInvalidURL, resps[2].ErrorCode)
	require.Len(t, rec.batches, 2, "the invalid URL has no samples, as with Do")
	v, _ := value(rec.batches[0], metrics.HTTPReqFailed)
	assert.Equal(t, 1.0, v)
}

// TestBatchReusesConnections holds what k6 v2.2.0 did: after a request, a
// batch to the same host takes the VU's idle connection (its connecting
// time is 0), and on HTTP/2 every request of the batch shares the one
// connection; later requests reuse the batch's connections.
func TestBatchReusesConnections(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(r.Proto))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			rec := &recorder{}
			c := newClient(t, rec, k6http.Options{InsecureSkipTLSVerify: true})
			first, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/"})
			require.NoError(t, err)
			require.Equal(t, 200, first.Status)
			resps, err := c.Batch(bg, gets(srv.URL+"/a", srv.URL+"/b", srv.URL+"/c"), k6http.BatchLimits{})
			require.NoError(t, err)
			connecting := make([]float64, len(resps))
			for i, r := range resps {
				require.Equal(t, 200, r.Status, r.Error)
				connecting[i] = r.Timings.Connecting
			}
			if h2 {
				assert.Equal(t, "HTTP/2.0", resps[0].Proto)
				assert.Equal(t, []float64{0, 0, 0}, connecting, "one HTTP/2 connection for all")
				assert.EqualValues(t, 1, conns.Load())
			} else {
				assert.Contains(t, connecting, 0.0, "the idle connection was taken: %v", connecting)
				assert.Less(t, conns.Load(), int64(4), "the first request's connection was reused")
			}
			before := conns.Load()
			for range 3 {
				r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/after"})
				require.NoError(t, err)
				assert.Zero(t, r.Timings.Connecting, "the batch's connections are back in the VU's pool")
			}
			assert.Equal(t, before, conns.Load())
		})
	}
}
