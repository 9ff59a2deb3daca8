package js_test

import (
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
		plain := body
		if r.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(strings.NewReader(string(body))); err == nil {
				plain, _ = io.ReadAll(zr)
			}
		}
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
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// checks returns every check of a result by path, failing the test when
// one failed.
func checks(t testing.TB, res loadtest.Result) map[string]loadtest.Check {
	t.Helper()
	out := map[string]loadtest.Check{}
	var walk func(g loadtest.Group)
	walk = func(g loadtest.Group) {
		for _, c := range g.Checks {
			out[c.Path] = c
			assert.Zero(t, c.Fails, "check %q failed %d times", c.Path, c.Fails)
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(res.RootGroup)
	return out
}

// feature runs a script of testdata/features against the test server.
func feature(t *testing.T, name string) run {
	t.Helper()
	srv := testServer(t)
	return run{src: js.Source{Path: filepath.Join("testdata", "features", name)}}.env("BASE", srv.URL)
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
