package k6http_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// digestServer checks RFC 7616 digest credentials user:passwd with the
// server's own arithmetic; the challenge offers algo.
func digestServer(t *testing.T, algo string) *httptest.Server {
	t.Helper()
	newHash := map[string]func() hash.Hash{"MD5": md5.New, "SHA-256": sha256.New}[algo]
	h := func(s string) string {
		d := newHash()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Digest ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Digest realm="me@example.com", qop="auth,auth-int", nonce="abc=123", opaque="xyz", algorithm=`+algo)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		p := map[string]string{}
		for _, kv := range strings.Split(a, ", ") {
			k, v, _ := strings.Cut(kv, "=") // the first =: the nonce holds one
			p[k] = strings.Trim(v, `"`)
		}
		ha1 := h(p["username"] + ":" + p["realm"] + ":passwd")
		want := h(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + h(r.Method+":"+p["uri"]))
		if p["nonce"] != "abc=123" || p["opaque"] != "xyz" || p["uri"] != r.URL.RequestURI() || want != p["response"] {
			w.WriteHeader(http.StatusUnauthorized) // no new challenge
			return
		}
		_, _ = io.WriteString(w, "authenticated")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDigestAuth holds what k6 v2.2.0 did with auth: "digest" against a
// digest server: the challenge (401, expected_response true) and the
// answer are two requests; good credentials get 200; an answer the
// server refuses is a failed request.
func TestDigestAuth(t *testing.T) {
	t.Parallel()
	for _, algo := range []string{"MD5", "SHA-256"} {
		srv := digestServer(t, algo)
		for _, tc := range []struct {
			name     string
			userinfo string
			status   int
			failed   []float64 // http_req_failed per request
		}{
			{name: "good credentials", userinfo: "user:passwd@", status: 200, failed: []float64{0, 0}},
			{name: "wrong password", userinfo: "user:nope@", status: 401, failed: []float64{0, 1}},
		} {
			for _, p := range paths {
				t.Run(algo+"/"+tc.name+"/"+p.name, func(t *testing.T) {
					t.Parallel()
					rec := &recorder{}
					c := newClient(t, rec, k6http.Options{DisableFastPath: p.std})
					url := strings.Replace(srv.URL, "://", "://"+tc.userinfo, 1) + "/private?x=1"
					r, err := c.Do(bg, &k6http.Request{URL: url, DigestAuth: true})
					require.NoError(t, err)
					assert.Equal(t, tc.status, r.Status)
					require.Len(t, rec.batches, 2, "the challenge and the answer")
					for i, b := range rec.batches {
						v, _ := value(b, metrics.HTTPReqFailed)
						assert.Equal(t, tc.failed[i], v, "request %d", i)
					}
					assert.Equal(t, "401", tagMap(rec.batches[0])["status"])
					assert.Equal(t, "true", tagMap(rec.batches[0])["expected_response"])
				})
			}
		}
	}
	t.Run("without digest auth a 401 is a failure", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		c := newClient(t, rec, k6http.Options{})
		r, err := c.Do(bg, &k6http.Request{URL: digestServer(t, "MD5").URL})
		require.NoError(t, err)
		assert.Equal(t, 401, r.Status)
		require.Len(t, rec.batches, 1)
		v, _ := value(rec.last(), metrics.HTTPReqFailed)
		assert.Equal(t, 1.0, v)
	})
}
