package k6http_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// Bodies of every size reach the server whole, on both paths, and
// data_sent counts them: small ones go out with the head in one write,
// large ones in a second.
func TestRequestBodySizes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	head := len("POST /echo HTTP/1.1\r\nHost: \r\nUser-Agent: "+k6http.DefaultUserAgent+"\r\nContent-Length: \r\n\r\n") +
		len(srv.Listener.Addr().String())
	for _, p := range paths {
		c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
		for _, size := range []int{0, 1, 4095, 4097, 16 << 10, 16<<10 + 1, 1 << 20} {
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			r, err := c.Do(bg, &k6http.Request{Method: http.MethodPost, URL: srv.URL + "/echo", Body: body})
			require.NoError(t, err, "%s, %d bytes", p.name, size)
			require.Equal(t, http.StatusOK, r.Status, "%s, %d bytes", p.name, size)
			assert.True(t, bytes.HasPrefix(r.Body, append([]byte("POST "), body...)), "%s, %d bytes: the server got another body", p.name, size)
			sent, _ := c.TakeIO()
			if !p.std { // net/http's transport writes its own headers
				assert.EqualValues(t, head+len(strconv.Itoa(size))+size, sent, "%s, %d bytes", p.name, size)
			}
		}
	}
}

// The fast path writes and then waits for the answer in one step: the
// wait must count as waiting, not as sending.
func TestSendingExcludesTheWait(t *testing.T) {
	t.Parallel()
	const delay = 50 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay) // the server's think time, what the client measures
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	for _, p := range paths {
		c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
		for i := range 2 { // a new connection, then a reused one
			r, err := c.Do(bg, &k6http.Request{URL: srv.URL})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, r.Status)
			tm := r.Timings
			assert.GreaterOrEqual(t, tm.Waiting, float64(delay)/float64(time.Millisecond), "%s, request %d", p.name, i)
			assert.Less(t, tm.Sending, tm.Waiting, "%s, request %d", p.name, i)
		}
	}
}
