package js_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// testServer is the server feature scripts talk to: /echo answers what it
// received as JSON, the others make statuses, redirects, cookies, delays
// and bytes.
func testServer(t testing.TB) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain := decodeBody(body, r.Header.Get("Content-Encoding"))
		hdr := map[string]string{}
		for k, v := range r.Header {
			hdr[k] = v[0]
		}
		cookies := map[string]string{}
		for _, c := range r.Cookies() {
			cookies[c.Name] = c.Value
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"headers": hdr, "body": string(body), "plain": string(plain), "length": len(body), "cookies": cookies})
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 1 {
			http.Redirect(w, r, "/echo", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(min(ms, 5000)) * time.Millisecond):
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("slow"))
	})
	mux.HandleFunc("/setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: r.URL.Query().Get("name"), Value: r.URL.Query().Get("value"), Path: "/"})
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte{'a', 1, 2, 255})
	})
	mux.HandleFunc("/basic", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html><head><title>Shop</title></head><body><ul><li>a</li><li>b</li><li>c</li></ul></body></html>`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// checks returns every check of a result by path, failing the test when
// one failed more often than fails says (by path; default 0).
func checks(t testing.TB, res loadtest.Result, fails ...any) map[string]loadtest.Check {
	t.Helper()
	want := map[string]int64{}
	for i := 0; i+1 < len(fails); i += 2 {
		want[fails[i].(string)] = int64(fails[i+1].(int))
	}
	out := map[string]loadtest.Check{}
	var walk func(g loadtest.Group)
	walk = func(g loadtest.Group) {
		for _, c := range g.Checks {
			out[c.Path] = c
			assert.Equal(t, want[c.Path], c.Fails, "check %q failed %d times", c.Path, c.Fails)
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(res.RootGroup)
	return out
}

// decodeBody undoes the Content-Encodings of a request body, last first,
// with each library's own reader; "" when one of them fails.
func decodeBody(body []byte, ce string) []byte {
	var rd io.Reader = bytes.NewReader(body)
	encs := strings.Split(ce, ",")
	for i := len(encs) - 1; i >= 0 && ce != ""; i-- {
		var err error
		switch strings.TrimSpace(encs[i]) {
		case "gzip":
			rd, err = gzip.NewReader(rd)
		case "deflate":
			rd = flate.NewReader(rd)
		case "br":
			rd = brotli.NewReader(rd)
		case "zstd":
			var d *zstd.Decoder
			if d, err = zstd.NewReader(rd, zstd.WithDecoderConcurrency(1)); err == nil {
				defer d.Close()
				rd = d
			}
		}
		if err != nil {
			return nil
		}
	}
	plain, err := io.ReadAll(rd)
	if err != nil {
		return nil
	}
	return plain
}

// feature runs a script of testdata/features against the test server.
func feature(t *testing.T, name string) run {
	t.Helper()
	srv := testServer(t)
	r := run{src: js.Source{Path: filepath.Join("testdata", "features", name)}}.env("BASE", srv.URL)
	r.opts.Remote = &js.RemoteModules{Client: moduleServer(t).client}
	return r
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	o := feature(t, "http.js").exec(t)
	require.NoError(t, o.err, o.logs.String())
	require.Equal(t, 0, o.exit)
	cs := checks(t, o.res)
	assert.Len(t, cs, countChecks(t, "http.js"), "every check ran")
	assert.Equal(t, 4.0, metricValue(t, o.res, "http_req_failed", "passes"), "404, 500 and two timeouts failed")
	names := map[string]int64{}
	for _, e := range o.res.Endpoints {
		names[e.Name] += e.Requests
	}
	assert.EqualValues(t, 1, names["echo-get"], "params.tags.name names the request: %v", names)
	found := false
	for n := range names {
		found = found || strings.HasSuffix(n, "/echo?id=${}")
	}
	assert.True(t, found, "http.url names the request by its template: %v", names)
	assert.Empty(t, o.res.IterationErrors)
}

// countChecks counts the checks a feature script declares: keys written
// as 'name': (...) => ... .
func countChecks(t testing.TB, name string) int {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "features", name))
	require.NoError(t, err)
	return len(checkKey.FindAll(src, -1))
}

var checkKey = regexp.MustCompile(`'[^']+': \(`)

func TestFeatures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		script string
		env    []string
		fails  []any // check path, expected fails
		checks int   // how many checks; 0: those written 'name': (...)
		check  func(t *testing.T, o outcome)
	}{
		{script: "k6.js", checks: 12, fails: []any{"::falsy value", 2, "::throwing check", 2}, check: func(t *testing.T, o outcome) {
			assert.Equal(t, 2.0, metricValue(t, o.res, "checks{custom:yes}", "passes"))
			assert.Equal(t, 2.0, metricValue(t, o.res, "group_duration{group:::outer::inner}", "count"))
			require.Len(t, o.res.RootGroup.Groups, 1)
			assert.Equal(t, "::outer::inner", o.res.RootGroup.Groups[0].Groups[0].Path)
		}},
		{script: "metrics.js", check: func(t *testing.T, o outcome) {
			assert.Equal(t, loadtest.StatusPassed, o.res.Status, "thresholds: %+v", o.res.Thresholds)
			assert.Equal(t, 10.0, metricValue(t, o.res, "c_count", "count"))
			assert.Equal(t, 40.0, metricValue(t, o.res, "t_trend", "max"))
			assert.Equal(t, "time", o.res.Metrics["t_trend"].Contains.String())
			assert.Equal(t, "default", o.res.Metrics["t_plain"].Contains.String())
			var names []string
			for _, m := range o.prog.Metrics() {
				names = append(names, m.Name+":"+m.Type.String())
			}
			assert.Equal(t, []string{"c_count:counter", "g_gauge:gauge", "r_rate:rate", "t_trend:trend", "t_plain:trend"}, names)
			assert.Len(t, o.logs.lines("level=WARN", "c_count", "must be a number"), 4)
		}},
		{script: "execution.js", env: []string{"GLOBAL", "g"}, check: func(t *testing.T, o outcome) {
			assert.Equal(t, loadtest.StatusPassed, o.res.Status, "thresholds: %+v", o.res.Thresholds)
			assert.Equal(t, 4.0, metricValue(t, o.res, "http_reqs{sc:one}", "count"))
		}},
		{script: "data.js", check: func(t *testing.T, o outcome) {
			assert.Len(t, o.logs.lines("building users"), 1, "the SharedArray is built once per process")
			assert.Equal(t, 6.0, metricValue(t, o.res, "iterations", "count"))
		}},
		{script: "codecs.js"},
		{script: "timers.js", check: func(t *testing.T, o outcome) {
			assert.Equal(t, loadtest.StatusPassed, o.res.Status, "every iteration waited for its last timer: %+v", o.res.Thresholds)
			assert.Equal(t, 4.0, metricValue(t, o.res, "late_timers", "count"))
		}},
		{script: "jslib.js", check: func(t *testing.T, o outcome) {
			require.NoError(t, o.hsErr)
			out := string(o.summary["stdout"])
			assert.Contains(t, out, " █ THRESHOLDS", out)
			assert.Contains(t, out, "checks", out)
			assert.Contains(t, out, "iterations", out)
			assert.Contains(t, string(o.summary["junit.xml"]), `<testcase name="checks - rate==1" />`)
		}},
		{script: "commonjs.js"},
		{script: "html.js"},
		{script: "fscsv.js"},
		{script: "typescript.ts"},
		{script: "webcrypto.js"},
		{script: "commonjs-main.js", check: func(t *testing.T, o outcome) {
			assert.Equal(t, 3.0, metricValue(t, o.res, "iterations", "count"), "exports.options was read")
		}},
		{script: "files.js", env: []string{"MODE", "test"}, check: func(t *testing.T, o outcome) {
			assert.Len(t, o.logs.lines("source=console", "level=INFO", `msg="init 0 {\"env\":\"test\"}"`), 1, o.logs.String())
			assert.Len(t, o.logs.lines("source=console", `msg="init `), 3, "init runs in VU 0 and in each of 2 VUs")
			assert.Len(t, o.logs.lines("source=console", "level=INFO", "iteration 0 of vu"), 2)
			assert.Len(t, o.logs.lines("source=console", "level=WARN", "a warning"), 2)
			assert.Len(t, o.logs.lines("source=console", "level=ERROR", "an error"), 2)
			assert.Len(t, o.logs.lines("source=console", "level=DEBUG", "debug"), 2)
		}},
	}
	for _, c := range cases {
		t.Run(c.script, func(t *testing.T) {
			t.Parallel()
			o := feature(t, c.script).env(c.env...).exec(t)
			require.NoError(t, o.err, o.logs.String())
			assert.Empty(t, o.res.IterationErrors, o.logs.String())
			cs := checks(t, o.res, c.fails...)
			want := c.checks
			if want == 0 {
				want = countChecks(t, c.script)
			}
			assert.Len(t, cs, want, "every check ran: %v", cs)
			if c.check != nil {
				c.check(t, o)
			}
		})
	}
}
