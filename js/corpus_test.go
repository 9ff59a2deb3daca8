package js_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// The compatibility corpus: scripts of testdata/compat, written in the
// style of public k6 scripts, one or more per module loadlens loads, and
// what k6 v2.2.0 did with each against the same server
// (testdata/compat/expected.json: exit code, every check's passes and
// fails, every threshold's verdict, and the iterations of count-based
// runs).

// corpusExpectation is what k6 did with one corpus script.
type corpusExpectation struct {
	Exit       int                        `json:"exit"`
	Checks     map[string][2]int64        `json:"checks"`     // path → passes, fails
	Thresholds map[string]map[string]bool `json:"thresholds"` // metric → source → ok
	Iterations *float64                   `json:"iterations"` // count-based runs only
	Secrets    []string                   `json:"secrets"`    // --secret-source values
}

// corpusHandler is the server the corpus scripts talk to.
func corpusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[{"id":1,"name":"margherita"},{"id":2,"name":"marinara"},{"id":3,"name":"diavola"}]}`)
	})
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Password != "demo" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"token":"t-%s"}`, in.Username)
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, `<html><head><title>Shop</title></head><body><h1>Menu</h1>`+
			`<a class="item" href="/api/items?i=1">1</a><a class="item" href="/api/items?i=2">2</a><a class="item" href="/api/items?i=3">3</a>`+
			`<form><input name="csrf" value="tok123"></form></body></html>`)
	})
	mux.HandleFunc("GET /api/private", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("POST /api/signed", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("shared-key"))
		m.Write(body)
		if r.Header.Get("X-Signature") != hex.EncodeToString(m.Sum(nil)) {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	mux.HandleFunc("GET /api/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/", http.NotFound)
	return mux
}

func TestCompatibilityCorpus(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "compat", "expected.json"))
	require.NoError(t, err)
	var expected map[string]corpusExpectation
	require.NoError(t, json.Unmarshal(b, &expected))
	scripts, err := filepath.Glob(filepath.Join("testdata", "compat", "*.[jt]s"))
	require.NoError(t, err)
	require.Len(t, expected, len(scripts), "every corpus script has k6's outcome, and only those")
	srv := httptest.NewServer(corpusHandler())
	t.Cleanup(srv.Close)
	modules := moduleServer(t)
	for _, path := range scripts {
		name := filepath.Base(path)
		want, ok := expected[name]
		require.True(t, ok, "no expectation for %s", name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run{src: js.Source{Path: path}}.env("BASE", srv.URL)
			r.opts.Remote = &js.RemoteModules{Client: modules.client}
			r.opts.Secrets = js.Secrets{Sources: map[string]js.SecretSource{}}
			for _, spec := range want.Secrets {
				n, src, _, err := js.ParseSecretSource(spec, os.ReadFile)
				require.NoError(t, err)
				r.opts.Secrets.Sources[n] = src
			}
			o := r.exec(t)
			assert.Equal(t, want.Exit, o.exit, "exit code; err: %v\n%s", o.err, o.logs.String())
			got := map[string][2]int64{}
			var walk func(g loadtest.Group)
			walk = func(g loadtest.Group) {
				for _, c := range g.Checks {
					got[c.Path] = [2]int64{c.Passes, c.Fails}
				}
				for _, sub := range g.Groups {
					walk(sub)
				}
			}
			walk(o.res.RootGroup)
			assert.Equal(t, want.Checks, got, "checks")
			verdicts := map[string]map[string]bool{}
			for _, v := range o.res.Thresholds {
				if verdicts[v.Metric] == nil {
					verdicts[v.Metric] = map[string]bool{}
				}
				verdicts[v.Metric][v.Threshold.Source] = v.Status != metrics.Failed
			}
			assert.Equal(t, want.Thresholds, verdicts, "threshold verdicts: %s", describeVerdicts(o.res))
			if want.Iterations != nil {
				assert.Equal(t, *want.Iterations, metricValue(t, o.res, "iterations", "count"))
			}
		})
	}
}

func describeVerdicts(res loadtest.Result) string {
	var out []string
	for _, v := range res.Thresholds {
		out = append(out, fmt.Sprintf("%s %s: %s (%v)", v.Metric, v.Threshold.Source, v.Status, v.Observed))
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}
