package k6http_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// Debug gets k6's --http-debug messages. k6 v2.2.0 logged, against a
// loopback server (k6 run --http-debug[=full]):
//
//	msg="Request:\nPOST /b HTTP/1.1\nHost: 127.0.0.1:44565\nUser-Agent: Grafana k6/2.2.0\nContent-Length: 7\nAccept-Encoding: gzip\n\nhello=1\n"
//	msg="Response:\nHTTP/1.0 200 OK\nConnection: close\nContent-Length: 11\nContent-Type: application/json\nDate: …\n\n{\"ok\":true}\n"
//
// and without =full the same heads with nothing after the blank line.
func TestDebugDumpsRequestsAndResponses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Date", "Sun, 06 Dec 2026 18:46:57 GMT")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	for _, tt := range []struct {
		name   string
		bodies bool
		want   []string
	}{
		{"headers", false, []string{
			"Request:\nPOST /b?x=1 HTTP/1.1\nHost: " + host + "\nUser-Agent: " + k6http.DefaultUserAgent + "\nContent-Length: 7\nX-A: 1\n\n\n",
			"Response:\nHTTP/1.1 200 OK\nContent-Length: 11\nContent-Type: application/json\nDate: Sun, 06 Dec 2026 18:46:57 GMT\n\n\n",
		}},
		{"full", true, []string{
			"Request:\nPOST /b?x=1 HTTP/1.1\nHost: " + host + "\nUser-Agent: " + k6http.DefaultUserAgent + "\nContent-Length: 7\nX-A: 1\n\nhello=1\n",
			"Response:\nHTTP/1.1 200 OK\nContent-Length: 11\nContent-Type: application/json\nDate: Sun, 06 Dec 2026 18:46:57 GMT\n\n{\"ok\":true}\n",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dumps []string
			req := &k6http.Request{Method: "POST", URL: srv.URL + "/b?x=1", Body: []byte("hello=1"),
				Header: http.Header{"X-A": {"1"}}, ResponseType: k6http.ResponseText}
			c := newClient(t, nil, k6http.Options{DebugBodies: tt.bodies, Debug: func(r *k6http.Request, dump string) {
				assert.Same(t, req, r)
				dumps = append(dumps, dump)
			}})
			resp, err := c.Do(t.Context(), req)
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status)
			assert.Equal(t, `{"ok":true}`, string(resp.Body), "the dump leaves the body to the caller")
			assert.Equal(t, tt.want, dumps)
		})
	}
}
