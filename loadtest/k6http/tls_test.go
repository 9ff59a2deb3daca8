package k6http_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

func tlsServer(t *testing.T, h2 bool) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	h1, pool1 := tlsServer(t, false)
	h2, pool2 := tlsServer(t, true)
	plain := newServer(t, nil)
	for _, tc := range []struct {
		name   string
		url    string
		opts   k6http.Options
		status int
		code   int
		error  string
		proto  string
	}{
		{name: "HTTP/1.1", url: h1.URL, opts: k6http.Options{TLSConfig: &tls.Config{RootCAs: pool1}}, status: 200, proto: "HTTP/1.1"},
		{name: "server picks HTTP/2", url: h2.URL, opts: k6http.Options{TLSConfig: &tls.Config{RootCAs: pool2}}, status: 200, proto: "HTTP/2.0"},
		{name: "insecure skip verify", url: h1.URL, opts: k6http.Options{InsecureSkipTLSVerify: true}, status: 200, proto: "HTTP/1.1"},
		{name: "unknown authority", url: h1.URL, code: 1310, error: "x509: unknown authority"},
		{name: "hostname mismatch", url: h1.URL, opts: k6http.Options{TLSConfig: &tls.Config{RootCAs: pool1, ServerName: "wrong.example"}},
			code: 1311, error: "x509: certificate doesn't match hostname"},
		{name: "TLS to plain HTTP", url: "https://" + plain.Listener.Addr().String(), opts: k6http.Options{InsecureSkipTLSVerify: true},
			code: 1300},
	} {
		for _, p := range paths {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				rec := &recorder{}
				opts := tc.opts
				opts.DisableFastPath = p.std
				c := newClient(t, rec, opts)
				for i := range 2 { // the second request reuses the connection, or the HTTP/2 decision
					r, err := c.Do(bg, &k6http.Request{URL: tc.url + "/"})
					require.NoError(t, err)
					assert.Equal(t, tc.status, r.Status, "request %d: %s", i, r.Error)
					assert.Equal(t, tc.code, r.ErrorCode, "request %d: %s", i, r.Error)
					tags := tagMap(rec.last())
					if tc.code != 0 {
						if tc.error != "" {
							assert.Equal(t, tc.error, r.Error)
						}
						assert.Equal(t, r.Error, tags["error"])
						assert.NotEmpty(t, r.Error)
						assert.NotContains(t, tags, "tls_version")
						continue
					}
					assert.Equal(t, tc.proto, r.Proto)
					assert.Equal(t, tc.proto, string(r.Body))
					assert.Equal(t, "tls1.3", r.TLSVersion)
					assert.NotEmpty(t, r.TLSCipherSuite)
					assert.Equal(t, "tls1.3", tags["tls_version"])
					assert.Equal(t, tc.proto, tags["proto"])
					tlsTime, _ := value(rec.last(), metrics.HTTPReqTLSHandshaking)
					if i == 0 {
						assert.Greater(t, tlsTime, 0.0, "a new connection shakes hands")
					} else {
						assert.Zero(t, tlsTime, "a reused connection does not")
					}
				}
			})
		}
	}
}

// TestTLSBytes: k6 v2.2.0 counted 1 745 bytes sent and 2 698 received for
// one GET to an HTTP/2 server over TLS, one handshake's worth. The fast
// path hands the connection it opened to net/http when the server picks
// HTTP/2, so both paths count one handshake and agree.
func TestTLSBytes(t *testing.T) {
	t.Parallel()
	srv, pool := tlsServer(t, true)
	io := func(std bool) (int64, int64) {
		c := newClient(t, nil, k6http.Options{TLSConfig: &tls.Config{RootCAs: pool}, DisableFastPath: std})
		r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/"})
		require.NoError(t, err)
		require.Equal(t, "HTTP/2.0", r.Proto)
		return c.TakeIO()
	}
	fastSent, fastRecv := io(false)
	stdSent, stdRecv := io(true)
	assert.InEpsilon(t, stdSent, fastSent, 0.1, "sent: fast %d, net/http %d", fastSent, stdSent)
	assert.InEpsilon(t, stdRecv, fastRecv, 0.1, "received: fast %d, net/http %d", fastRecv, stdRecv)
}
