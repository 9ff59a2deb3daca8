package k6http

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

// TestPathChoice checks which path carries what: the fast path for plain
// and TLS HTTP/1.1, net/http once a server picks HTTP/2 and for what the
// fast path leaves to it.
func TestPathChoice(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	h1 := httptest.NewTLSServer(handler)
	t.Cleanup(h1.Close)
	h2 := httptest.NewUnstartedServer(handler)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	pool := x509.NewCertPool()
	pool.AddCert(h1.Certificate())
	pool.AddCert(h2.Certificate())

	for _, tc := range []struct {
		name    string
		req     *Request
		opts    Options
		netHTTP bool
	}{
		{name: "http", req: &Request{URL: plain.URL}},
		{name: "https HTTP/1.1", req: &Request{URL: h1.URL}},
		{name: "https HTTP/2", req: &Request{URL: h2.URL}, netHTTP: true},
		{name: "streamed body", req: &Request{Method: "POST", URL: plain.URL, BodyReader: strings.NewReader("streamed")}, netHTTP: true},
		{name: "expect continue", req: &Request{URL: plain.URL, Header: http.Header{"Expect": {"100-continue"}}}, netHTTP: true},
		{name: "header net/http rejects", req: &Request{URL: plain.URL, Header: http.Header{"X": {"a\nb"}}}, netHTTP: true},
		{name: "proxy", req: &Request{URL: plain.URL}, opts: Options{Proxy: http.ProxyURL(nil)}, netHTTP: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.TLSConfig = &tls.Config{RootCAs: pool}
			c, err := NewClient(metrics.NewRegistry(), nil, tc.opts)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			_, err = c.Do(context.Background(), tc.req)
			require.NoError(t, err)
			assert.Equal(t, tc.netHTTP, c.tr != nil, "net/http used")
		})
	}
}

// TestIdleCloseDetected: a POST, which is never retried, must not go out
// on a keep-alive connection the server closed while it sat idle.
func TestIdleCloseDetected(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			// One answer per connection, without "Connection: close", as a
			// server whose keep-alive timeout runs out.
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			_ = conn.Close()
		}
	})
	c, err := NewClient(metrics.NewRegistry(), nil, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	c.checkIdle = 0
	url := "http://" + ln.Addr().String() + "/"
	r, err := c.Do(context.Background(), &Request{URL: url})
	require.NoError(t, err)
	require.Equal(t, 200, r.Status)
	require.Len(t, c.idle, 1)
	require.Eventually(t, func() bool { return !connAlive(c.idle[0].raw) }, 5*time.Second, time.Millisecond,
		"the server's close reaches the client")
	r, err = c.Do(context.Background(), &Request{Method: "POST", URL: url, Body: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status, r.Error)
}

func TestConnAliveOnLiveConnection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	c, err := NewClient(metrics.NewRegistry(), nil, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Do(context.Background(), &Request{URL: srv.URL})
	require.NoError(t, err)
	require.Len(t, c.idle, 1)
	assert.True(t, connAlive(c.idle[0].raw))
}

// wireConn stands for the network under countedConn: it takes at most max
// bytes per write and reports what the client had counted when they left.
type wireConn struct {
	net.Conn
	max     int
	onWrite func(n int)
}

func (w wireConn) Write(b []byte) (int, error) {
	n := min(len(b), w.max)
	w.onWrite(n)
	if n < len(b) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// TestCountedConnCountsBeforeTheWire checks that bytes are counted by the
// time the peer can see them: net/http may return a response while its
// write goroutine has not yet run past the write (TestPathsAgree saw 0
// bytes sent on a busy machine), and a short write counts only what left.
func TestCountedConnCountsBeforeTheWire(t *testing.T) {
	t.Parallel()
	c := &Client{}
	var countedAtWire []int64
	cc := &countedConn{c: c, Conn: wireConn{max: 3, onWrite: func(int) {
		countedAtWire = append(countedAtWire, c.sent.Load())
	}}}
	n, err := cc.Write([]byte("GET"))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = cc.Write([]byte("HEAD"))
	assert.ErrorIs(t, err, io.ErrShortWrite)
	assert.Equal(t, 3, n)
	assert.Equal(t, []int64{3, 7}, countedAtWire, "counted when the bytes reached the wire")
	sent, _ := c.TakeIO()
	assert.Equal(t, int64(6), sent, "the short write's unsent byte is taken back")
}
