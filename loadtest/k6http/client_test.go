package k6http_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// env holds the loopback servers of the table.
type env struct {
	base, reset, http10, closeDelimited, info, refused string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{
		base: newServer(t, nil).URL,
		reset: rawServer(t, func(conn net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			_ = conn.(*net.TCPConn).SetLinger(0) // the close sends a reset
		}),
		http10:         rawServer(t, serveRaw("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false)),
		closeDelimited: rawServer(t, serveRaw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", false)),
		info: rawServer(t, serveRaw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal", true)),
		refused: refusedURL(t),
	}
}

// tcase is one exchange of the table, run through both paths.
type tcase struct {
	name string
	opts k6http.Options
	req  *k6http.Request
	// want
	status   int
	code     int
	hops     int               // batches emitted; 0 for none
	tags     map[string]string // on the last hop ("" value: must be absent)
	failed   float64           // http_req_failed of the last hop; -1: no such sample
	body     string            // checked when set, or when empty is
	empty    bool
	noReuse  bool // the response closed its connection
	check    func(t *testing.T, r *k6http.Response, rec *recorder)
	timingOK bool // skip byte-count equality (timeouts, resets)
}

func cases(e *env) []tcase {
	return []tcase{
		{name: "200", req: &k6http.Request{URL: e.base + "/"}, status: 200, hops: 1, body: "ok",
			tags: map[string]string{"status": "200", "method": "GET", "url": e.base + "/", "name": e.base + "/",
				"proto": "HTTP/1.1", "expected_response": "true", "error_code": "", "error": "", "tls_version": ""},
			check: func(t *testing.T, r *k6http.Response, rec *recorder) {
				assert.Equal(t, "200 OK", r.StatusText)
				assert.Equal(t, "127.0.0.1", r.RemoteIP)
				assert.NotZero(t, r.RemotePort)
				assert.Equal(t, "2", r.Header("content-length"))
				assert.Equal(t, []string{"2"}, r.Headers()["Content-Length"])
				b := rec.last()
				require.Equal(t, []string{metrics.HTTPReqs, metrics.HTTPReqDuration, metrics.HTTPReqBlocked,
					metrics.HTTPReqConnecting, metrics.HTTPReqTLSHandshaking, metrics.HTTPReqSending,
					metrics.HTTPReqWaiting, metrics.HTTPReqReceiving, metrics.HTTPReqFailed}, names(b))
				for _, s := range b {
					assert.Equal(t, b[0].Time, s.Time, "one timestamp per request")
				}
				tm := r.Timings
				assert.InDelta(t, tm.Sending+tm.Waiting+tm.Receiving, tm.Duration, 1e-9)
				assert.Greater(t, tm.Connecting, 0.0, "a new connection")
				assert.GreaterOrEqual(t, tm.Blocked, tm.Connecting)
				assert.Greater(t, tm.Waiting, 0.0)
				d, _ := value(b, metrics.HTTPReqDuration)
				assert.Equal(t, tm.Duration, d)
			}},
		{name: "404", req: &k6http.Request{URL: e.base + "/status/404"}, status: 404, code: 1404, hops: 1, failed: 1,
			tags: map[string]string{"status": "404", "error_code": "1404", "expected_response": "false", "error": ""}},
		{name: "500", req: &k6http.Request{URL: e.base + "/status/500"}, status: 500, code: 1500, hops: 1, failed: 1,
			tags: map[string]string{"status": "500", "error_code": "1500", "expected_response": "false"}},
		{name: "redirects", req: &k6http.Request{URL: e.base + "/redirect/2"}, status: 200, hops: 3, body: "landed",
			tags: map[string]string{"status": "200", "url": e.base + "/redirect/0"},
			check: func(t *testing.T, r *k6http.Response, rec *recorder) {
				assert.Equal(t, e.base+"/redirect/0", r.URL)
				assert.Equal(t, e.base+"/redirect/0", r.Request.URL)
				for i, want := range []string{"/redirect/2", "/redirect/1", "/redirect/0"} {
					assert.Equal(t, e.base+want, tagMap(rec.batches[i])["url"], "hop %d", i)
				}
				assert.Equal(t, "302", tagMap(rec.batches[0])["status"])
				assert.Equal(t, "true", tagMap(rec.batches[0])["expected_response"])
			}},
		{name: "redirects limited", req: &k6http.Request{URL: e.base + "/redirect/2", Redirects: intp(1)},
			status: 302, hops: 2, tags: map[string]string{"status": "302", "url": e.base + "/redirect/1"}},
		{name: "no redirects", opts: k6http.Options{MaxRedirects: intp(0)}, req: &k6http.Request{URL: e.base + "/redirect/1"},
			status: 302, hops: 1, tags: map[string]string{"status": "302"}},
		{name: "303 turns POST into GET", req: &k6http.Request{Method: "POST", URL: e.base + "/see-other", Body: []byte("data")},
			status: 200, hops: 2, tags: map[string]string{"method": "GET"}, body: `GET |ua=loadlens/0.1 (k6-compatible)|x=|cl=""|te=[]|ref=` + e.base + "/see-other",
			check: func(t *testing.T, r *k6http.Response, rec *recorder) {
				assert.Equal(t, "POST", tagMap(rec.batches[0])["method"])
			}},
		{name: "307 keeps method and body", req: &k6http.Request{Method: "PUT", URL: e.base + "/keep-method", Body: []byte("data")},
			status: 200, hops: 2, tags: map[string]string{"method": "PUT"}, body: `PUT data|ua=loadlens/0.1 (k6-compatible)|x=|cl="4"|te=[]|ref=` + e.base + "/keep-method"},
		// The timeout leaves a busy machine time to connect and send: it is
		// the wait for the answer that runs out.
		{name: "timeout", req: &k6http.Request{URL: e.base + "/slow", Timeout: time.Second}, code: 1050, hops: 1, failed: 1,
			timingOK: true,
			tags: map[string]string{"status": "0", "error": "request timeout", "error_code": "1050", "proto": "",
				"expected_response": "false"},
			check: func(t *testing.T, r *k6http.Response, _ *recorder) {
				assert.Equal(t, "request timeout", r.Error)
				tm := r.Timings
				assert.Greater(t, tm.Waiting, 0.0)
				assert.GreaterOrEqual(t, tm.Blocked+tm.Sending+tm.Waiting, 800.0, "the timeout's second is accounted for")
			}},
		{name: "refused", req: &k6http.Request{URL: e.refused}, code: 1212, hops: 1, failed: 1, timingOK: true,
			tags: map[string]string{"status": "0", "error": "dial: connection refused", "error_code": "1212", "url": e.refused}},
		{name: "reset mid-response", req: &k6http.Request{URL: e.reset + "/"}, code: 1220, hops: 1, failed: 1, timingOK: true,
			tags: map[string]string{"status": "0", "error": "read: connection reset by peer", "error_code": "1220"}},
		{name: "invalid URL", req: &k6http.Request{URL: "://nope"}, code: 1020, hops: 0},
		{name: "unsupported scheme", req: &k6http.Request{URL: "ftp://127.0.0.1/"}, code: 1020, hops: 0},
		{name: "HEAD", req: &k6http.Request{Method: "HEAD", URL: e.base + "/"}, status: 200, hops: 1, empty: true,
			tags: map[string]string{"method": "HEAD"},
			check: func(t *testing.T, r *k6http.Response, _ *recorder) {
				assert.Nil(t, r.Body)
				assert.Equal(t, "2", r.Header("Content-Length"))
			}},
		{name: "204", req: &k6http.Request{URL: e.base + "/status/204"}, status: 204, hops: 1, empty: true, tags: map[string]string{"status": "204"}},
		{name: "chunked", req: &k6http.Request{URL: e.base + "/chunked"}, status: 200, hops: 1, body: "hello chunks",
			check: func(t *testing.T, r *k6http.Response, _ *recorder) {
				assert.Empty(t, r.Header("Transfer-Encoding"), "net/http drops it, so does the fast path")
			}},
		{name: "gzip", req: &k6http.Request{URL: e.base + "/gzip"}, status: 200, hops: 1, body: "hello gzip"},
		{name: "deflate", req: &k6http.Request{URL: e.base + "/deflate"}, status: 200, hops: 1, body: "hello deflate"},
		{name: "bad gzip", req: &k6http.Request{URL: e.base + "/badgzip"}, code: 1701, hops: 1, failed: 1,
			tags: map[string]string{"status": "0", "error_code": "1701"}},
		{name: "br", req: &k6http.Request{URL: e.base + "/br"}, status: 200, hops: 1, body: "hello br"},
		{name: "zstd", req: &k6http.Request{URL: e.base + "/zstd"}, status: 200, hops: 1, body: "hello zstd"},
		{name: "bad br", req: &k6http.Request{URL: e.base + "/badbr"}, code: 1701, hops: 1, failed: 1,
			tags: map[string]string{"status": "0", "error_code": "1701"}},
		{name: "bad zstd", req: &k6http.Request{URL: e.base + "/badzstd"}, code: 1701, hops: 1, failed: 1,
			tags: map[string]string{"status": "0", "error_code": "1701"}},
		{name: "cut br", req: &k6http.Request{URL: e.base + "/cutbr"}, code: 1701, hops: 1, failed: 1,
			tags: map[string]string{"status": "0", "error_code": "1701"}},
		{name: "cut zstd", req: &k6http.Request{URL: e.base + "/cutzstd"}, code: 1701, hops: 1, failed: 1,
			tags: map[string]string{"status": "0", "error_code": "1701"}},
		{name: "name tag overrides url", req: &k6http.Request{URL: e.base + "/status/200",
			Tags: metrics.NewTags("name", "Home", "my", "tag")}, status: 200, hops: 1,
			tags: map[string]string{"name": "Home", "url": "Home", "my": "tag"}},
		{name: "VU tags, request tags, system tags win", req: &k6http.Request{URL: e.base + "/",
			VUTags: metrics.NewTags("scenario", "default", "group", "::g", "env", "dev", "my", "vu"),
			Tags:   metrics.NewTags("my", "req", "status", "fake")}, status: 200, hops: 1,
			tags: map[string]string{"scenario": "default", "group": "::g", "env": "dev", "my": "req", "status": "200"}},
		{name: "discard bodies", opts: k6http.Options{DiscardResponseBodies: true}, req: &k6http.Request{URL: e.base + "/chunked"},
			status: 200, hops: 1, empty: true},
		{name: "discard bodies, text asked", opts: k6http.Options{DiscardResponseBodies: true},
			req: &k6http.Request{URL: e.base + "/", ResponseType: k6http.ResponseText}, status: 200, hops: 1, body: "ok"},
		{name: "response type none", req: &k6http.Request{URL: e.base + "/gzip", ResponseType: k6http.ResponseNone},
			status: 200, hops: 1, empty: true},
		{name: "expected statuses none", req: &k6http.Request{URL: e.base + "/status/500", ExpectedStatuses: k6http.ExpectNone()},
			status: 500, code: 1500, hops: 1, failed: -1, tags: map[string]string{"expected_response": ""}},
		{name: "expected statuses none by default", opts: k6http.Options{ExpectedStatuses: k6http.ExpectNone()},
			req: &k6http.Request{URL: e.base + "/"}, status: 200, hops: 1, failed: -1, tags: map[string]string{"expected_response": ""}},
		{name: "expected statuses custom", req: &k6http.Request{URL: e.base + "/status/404",
			ExpectedStatuses: k6http.ExpectedStatuses{{Min: 404, Max: 404}}}, status: 404, code: 1404, hops: 1,
			tags: map[string]string{"expected_response": "true", "error_code": "1404"}},
		{name: "system tags narrowed", opts: k6http.Options{SystemTags: []string{"method", "status", "ip"}},
			req: &k6http.Request{URL: e.base + "/"}, status: 200, hops: 1, failed: 0,
			check: func(t *testing.T, _ *k6http.Response, rec *recorder) {
				assert.Equal(t, map[string]string{"method": "GET", "status": "200", "ip": "127.0.0.1"}, tagMap(rec.last()))
			}},
		{name: "metadata", req: &k6http.Request{URL: e.base + "/", Metadata: map[string]string{"vu": "1", "iter": "0"}},
			status: 200, hops: 1, check: func(t *testing.T, _ *k6http.Response, rec *recorder) {
				for _, s := range rec.last() {
					assert.Equal(t, map[string]string{"vu": "1", "iter": "0"}, s.Metadata)
				}
			}},
		{name: "headers and body sent", req: &k6http.Request{Method: "POST", URL: e.base + "/echo", Body: []byte("hi"),
			Header: http.Header{"X-Test": {"  v  "}, "User-Agent": {"custom/1"}}}, status: 200, hops: 1,
			body: `POST hi|ua=custom/1|x=v|cl="2"|te=[]|ref=`},
		{name: "POST without body sends Content-Length 0", req: &k6http.Request{Method: "POST", URL: e.base + "/echo"},
			status: 200, hops: 1, body: `POST |ua=loadlens/0.1 (k6-compatible)|x=|cl="0"|te=[]|ref=`},
		{name: "no user agent", req: &k6http.Request{URL: e.base + "/echo", Header: http.Header{"User-Agent": {""}}},
			status: 200, hops: 1, body: `GET |ua=|x=|cl=""|te=[]|ref=`},
		{name: "HTTP/1.0", req: &k6http.Request{URL: e.http10 + "/"}, status: 200, hops: 1, body: "ok", noReuse: true,
			tags: map[string]string{"proto": "HTTP/1.0"}},
		{name: "close-delimited body", req: &k6http.Request{URL: e.closeDelimited + "/"}, status: 200, hops: 1,
			body: "until the end", noReuse: true},
		{name: "1xx skipped", req: &k6http.Request{URL: e.info + "/"}, status: 200, hops: 1, body: "final"},
	}
}

var paths = []struct {
	name string
	std  bool
}{{"fast", false}, {"nethttp", true}}

func TestClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range cases(e) {
		for _, p := range paths {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				rec := &recorder{}
				opts := tc.opts
				opts.DisableFastPath = p.std
				c := newClient(t, rec, opts)
				r, err := c.Do(bg, tc.req)
				require.NoError(t, err)
				require.NotNil(t, r)
				assert.Equal(t, tc.status, r.Status, "status")
				assert.Equal(t, tc.code, r.ErrorCode, "error code (%s)", r.Error)
				assert.Equal(t, tc.code != 0 && tc.status == 0, r.Error != "", "error text %q", r.Error)
				if tc.body != "" || tc.empty || tc.status == 0 {
					assert.Equal(t, tc.body, string(r.Body), "body")
				}
				require.Len(t, rec.batches, tc.hops, "one batch per hop")
				if tc.hops == 0 {
					return
				}
				tags := tagMap(rec.last())
				for k, want := range tc.tags {
					got, ok := tags[k]
					if want == "" {
						assert.False(t, ok, "tag %s should be absent, is %q", k, got)
					} else {
						assert.Equal(t, want, got, "tag %s", k)
					}
				}
				failed, ok := value(rec.last(), metrics.HTTPReqFailed)
				if tc.failed < 0 {
					assert.False(t, ok, "no http_req_failed")
				} else {
					assert.True(t, ok, "http_req_failed")
					assert.Equal(t, tc.failed, failed, "http_req_failed")
				}
				reqs, _ := value(rec.last(), metrics.HTTPReqs)
				assert.Equal(t, 1.0, reqs)
				for _, b := range rec.batches {
					for _, s := range b {
						assert.True(t, s.Tags.Equal(b[0].Tags), "every sample of a hop has the hop's tags")
					}
				}
				if tc.check != nil {
					tc.check(t, r, rec)
				}
			})
		}
	}
}

// TestPathsAgree runs every exchange of the table through the fast path and
// through net/http and compares what k6 would see: the metrics of each
// hop, their tags, http_reqs and http_req_failed, and the bytes sent.
func TestPathsAgree(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type hop struct {
		Names  []string
		Tags   map[string]string
		Reqs   float64
		Failed float64
	}
	run := func(t *testing.T, tc tcase, std bool) ([]hop, *k6http.Response, int64, int64) {
		rec := &recorder{}
		opts := tc.opts
		opts.DisableFastPath = std
		c := newClient(t, rec, opts)
		r, err := c.Do(bg, tc.req)
		require.NoError(t, err)
		var hops []hop
		for _, b := range rec.batches {
			h := hop{Names: names(b), Tags: tagMap(b)}
			h.Reqs, _ = value(b, metrics.HTTPReqs)
			h.Failed, _ = value(b, metrics.HTTPReqFailed)
			hops = append(hops, h)
		}
		sent, received := c.TakeIO()
		return hops, r, sent, received
	}
	for _, tc := range cases(e) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fast, fr, fs, frc := run(t, tc, false)
			std, sr, ss, src := run(t, tc, true)
			assert.Equal(t, std, fast)
			assert.Equal(t, sr.Status, fr.Status)
			assert.Equal(t, sr.StatusText, fr.StatusText)
			assert.Equal(t, sr.Proto, fr.Proto)
			assert.Equal(t, sr.ErrorCode, fr.ErrorCode)
			assert.Equal(t, sr.Error, fr.Error)
			assert.Equal(t, sr.URL, fr.URL)
			assert.Equal(t, string(sr.Body), string(fr.Body))
			if !tc.timingOK {
				assert.Equal(t, ss, fs, "bytes sent")
				assert.Equal(t, src, frc, "bytes received")
			}
			if fr.Status != 0 {
				fh, sh := fr.Headers().Clone(), sr.Headers().Clone()
				fh.Del("Date")
				sh.Del("Date")
				assert.Equal(t, sh, fh, "headers")
			}
		})
	}
}

func TestKeepAliveAndReuse(t *testing.T) {
	t.Parallel()
	for _, p := range paths {
		for _, noReuse := range []bool{false, true} {
			t.Run(p.name+map[bool]string{false: "/keep-alive", true: "/no-reuse"}[noReuse], func(t *testing.T) {
				t.Parallel()
				var conns atomic.Int64
				srv := newServer(t, &conns)
				rec := &recorder{}
				c := newClient(t, rec, k6http.Options{DisableFastPath: p.std, NoConnectionReuse: noReuse})
				const n = 6
				for range n {
					r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/"})
					require.NoError(t, err)
					require.Equal(t, 200, r.Status, r.Error)
				}
				require.Len(t, rec.batches, n)
				connected := 0
				for i, b := range rec.batches {
					connecting, _ := value(b, metrics.HTTPReqConnecting)
					blocked, _ := value(b, metrics.HTTPReqBlocked)
					switch {
					case noReuse || i == 0:
						assert.Greater(t, connecting, 0.0, "request %d connects", i)
						assert.GreaterOrEqual(t, blocked, connecting, "request %d", i)
					case p.std && connecting > 0:
						// net/http hands a connection back to its pool on its
						// own goroutine after the body's end: on a busy
						// machine the next request may dial before then.
						assert.GreaterOrEqual(t, blocked, connecting, "request %d", i)
					default:
						assert.Zero(t, connecting, "request %d reuses", i)
						// ≈ 0; the bound is a busy machine's scheduling delay.
						assert.Less(t, blocked, 100.0, "request %d: blocked ≈ 0 on a reused connection", i)
					}
					if connecting > 0 {
						connected++
					}
				}
				assert.EqualValues(t, connected, conns.Load(), "a connection for each request that connected, and only those")
				switch {
				case noReuse:
					assert.Equal(t, n, connected)
				case p.std:
					assert.Less(t, connected, n/2, "most requests reuse a connection")
				default:
					assert.Equal(t, 1, connected, "the fast path reuses its connection at once")
				}
			})
		}
	}
}

func TestCookies(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
			get := func(req *k6http.Request) string {
				t.Helper()
				r, err := c.Do(bg, req)
				require.NoError(t, err)
				require.Equal(t, 200, r.Status, r.Error)
				return string(r.Body)
			}
			assert.Empty(t, get(&k6http.Request{URL: srv.URL + "/cookies"}))
			get(&k6http.Request{URL: srv.URL + "/setcookie"})
			assert.Equal(t, "sid=abc", get(&k6http.Request{URL: srv.URL + "/cookies"}))
			assert.Equal(t, "sid=abc; extra=1", get(&k6http.Request{URL: srv.URL + "/cookies",
				Cookies: []k6http.Cookie{{Name: "extra", Value: "1"}}}))
			assert.Equal(t, "sid=mine", get(&k6http.Request{URL: srv.URL + "/cookies",
				Cookies: []k6http.Cookie{{Name: "sid", Value: "mine", Replace: true}}}))
			assert.Equal(t, "pre=1; sid=abc", get(&k6http.Request{URL: srv.URL + "/cookies",
				Header: http.Header{"Cookie": {"pre=1"}}}))
			r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/setcookie"})
			require.NoError(t, err)
			require.Len(t, r.Cookies(), 1)
			assert.Equal(t, "abc", r.Cookies()[0].Value)
		})
	}
}

func TestResetCookies(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newClient(t, nil, k6http.Options{})
	cookies := func() string {
		t.Helper()
		r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/cookies"})
		require.NoError(t, err)
		return string(r.Body)
	}
	jar := c.Jar()
	_, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/setcookie"})
	require.NoError(t, err)
	require.Equal(t, "sid=abc", cookies())
	c.ResetCookies()
	assert.Empty(t, cookies(), "the jar is empty")
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	jar.SetCookies(u, []*http.Cookie{{Name: "later", Value: "1"}})
	assert.Equal(t, "later=1", cookies(), "a jar taken before the reset is still the client's")
}

func TestTakeIO(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newClient(t, nil, k6http.Options{})
	_, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/"})
	require.NoError(t, err)
	sent, received := c.TakeIO()
	// "GET / HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nUser-Agent: loadlens/0.1 (k6-compatible)\r\n\r\n"
	want := len("GET / HTTP/1.1\r\nHost: \r\nUser-Agent: "+k6http.DefaultUserAgent+"\r\n\r\n") + len(srv.Listener.Addr().String())
	assert.EqualValues(t, want, sent)
	assert.Greater(t, received, int64(len("HTTP/1.1 200 OK\r\n\r\nok")))
	sent, received = c.TakeIO()
	assert.Zero(t, sent)
	assert.Zero(t, received)
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			c := newClient(t, rec, k6http.Options{DisableFastPath: p.std})
			// A first request makes a keep-alive connection, so the second
			// is interrupted while it waits on a reused one.
			_, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/"})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(bg)
			done := make(chan error, 1)
			go func() {
				_, err := c.Do(ctx, &k6http.Request{URL: srv.URL + "/slow"})
				done <- err
			}()
			cancel()
			err = <-done
			require.Error(t, err)
			assert.Len(t, rec.batches, 1, "an interrupted request emits nothing")
			_, err = c.Do(ctx, &k6http.Request{URL: srv.URL + "/"})
			require.Error(t, err)
		})
	}
}

func TestMisuse(t *testing.T) {
	t.Parallel()
	_, err := k6http.NewClient(nil, nil, k6http.Options{})
	require.Error(t, err)
	_, err = k6http.NewClient(metrics.NewRegistry(), nil, k6http.Options{SystemTags: []string{"nope"}})
	require.ErrorContains(t, err, "nope")
	_, err = k6http.NewClient(metrics.NewRegistry(), nil, k6http.Options{MaxRedirects: intp(-1)})
	require.Error(t, err)
	c := newClient(t, nil, k6http.Options{})
	_, err = c.Do(bg, nil)
	require.Error(t, err)
	require.NoError(t, c.Close())
	_, err = c.Do(bg, &k6http.Request{URL: "http://127.0.0.1/"})
	require.ErrorIs(t, err, k6http.ErrClosed)
}

func TestStaleKeepAliveRetried(t *testing.T) {
	t.Parallel()
	// The server answers one request per connection but claims keep-alive,
	// as a server whose idle timeout just ran out does.
	base := rawServer(t, serveRaw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			c := newClient(t, rec, k6http.Options{DisableFastPath: p.std})
			for i := range 3 {
				r, err := c.Do(bg, &k6http.Request{URL: base + "/"})
				require.NoError(t, err)
				require.Equal(t, 200, r.Status, "request %d: %s", i, r.Error)
			}
			assert.Len(t, rec.batches, 3)
		})
	}
}

func TestExpectedStatuses(t *testing.T) {
	t.Parallel()
	e := k6http.ExpectedStatuses{{Min: 200, Max: 299}, {Min: 404, Max: 404}}
	for status, want := range map[int]bool{199: false, 200: true, 299: true, 300: false, 404: true, 500: false} {
		assert.Equal(t, want, e.Expected(status), "status %d", status)
	}
	assert.NotNil(t, k6http.ExpectNone())
	assert.Empty(t, k6http.ExpectNone())
	assert.True(t, slices.Contains(k6http.DefaultSystemTags(), "expected_response"))
}

func TestStreamedBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newClient(t, nil, k6http.Options{})
	r, err := c.Do(bg, &k6http.Request{Method: "POST", URL: srv.URL + "/echo", BodyReader: strings.NewReader("streamed")})
	require.NoError(t, err)
	assert.Equal(t, `POST streamed|ua=loadlens/0.1 (k6-compatible)|x=|cl=""|te=[chunked]|ref=`, string(r.Body))
	// A body read once cannot follow a 307: the redirect is the answer.
	r, err = c.Do(bg, &k6http.Request{Method: "POST", URL: srv.URL + "/keep-method", BodyReader: strings.NewReader("x")})
	require.NoError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, r.Status)
}

// An address AllowIP refuses is never dialled, on either path: the request
// fails with k6's 1110 and the server sees nothing.
func TestAllowIPRefusesBeforeDialling(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	notLoopback := func(ip netip.Addr) bool { return !ip.IsLoopback() }
	for _, std := range []bool{false, true} {
		var samples []metrics.Sample
		c, err := k6http.NewClient(metrics.NewRegistry(), func(s []metrics.Sample) { samples = append(samples, s...) },
			k6http.Options{AllowIP: notLoopback, DisableFastPath: std})
		require.NoError(t, err)
		for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
			resp, err := c.Do(t.Context(), &k6http.Request{URL: u})
			require.NoError(t, err)
			assert.Equal(t, k6http.CodeBlacklistedIP, resp.ErrorCode, "std=%v %s", std, u)
			assert.Contains(t, resp.Error, "blacklisted")
		}
		require.NotEmpty(t, samples)
		code, _ := samples[0].Tags.Get("error_code")
		assert.Equal(t, "1110", code)
		require.NoError(t, c.Close())
	}
	assert.Zero(t, hits.Load())

	c, err := k6http.NewClient(metrics.NewRegistry(), nil, k6http.Options{AllowIP: func(netip.Addr) bool { return true }})
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Do(t.Context(), &k6http.Request{URL: srv.URL})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
}

// TestDoIntoReusesTheResponse: a Response used again holds the second
// answer only, on both paths, whatever the first left in it (a longer
// body, a header the second has not, a redirect on the way).
func TestDoIntoReusesTheResponse(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-First", "yes")
		_, _ = io.WriteString(w, "a body longer than the next one")
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "short")
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/short", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
			var resp k6http.Response
			require.NoError(t, c.DoInto(bg, &k6http.Request{URL: srv.URL + "/long", ResponseType: k6http.ResponseText}, &resp))
			require.Equal(t, 200, resp.Status, resp.Error)
			require.Equal(t, "a body longer than the next one", string(resp.Body))
			require.Equal(t, "yes", resp.Header("X-First"))

			for _, path := range []string{"/short", "/moved"} {
				req := &k6http.Request{URL: srv.URL + path, ResponseType: k6http.ResponseText}
				require.NoError(t, c.DoInto(bg, req, &resp))
				assert.Equal(t, 202, resp.Status, "%s: %s", path, resp.Error)
				assert.Equal(t, "short", string(resp.Body), path)
				assert.Empty(t, resp.Header("X-First"), path)
				assert.Equal(t, srv.URL+"/short", resp.URL, path)
				assert.Equal(t, "202 Accepted", resp.StatusText, path)
			}

			require.NoError(t, c.DoInto(bg, &k6http.Request{URL: "::nonsense"}, &resp))
			assert.Equal(t, k6http.CodeInvalidURL, resp.ErrorCode)
			assert.Zero(t, resp.Status)
			assert.Nil(t, resp.Body)
		})
	}
}
