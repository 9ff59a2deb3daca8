package leanserver_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/leanserver"
)

// start serves in the background and returns the host:port.
func start(t *testing.T) string {
	baseURL, stop, err := leanserver.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stop)
	return strings.TrimSuffix(strings.TrimPrefix(baseURL, "http://"), "/")
}

func TestKeepAlive(t *testing.T) {
	addr := start(t)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for range 3 {
		resp, err := client.Get("http://" + addr + "/")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "ok", string(body))
		assert.Equal(t, 200, resp.StatusCode)
	}
}

// Three pipelined requests in one write get three responses.
func TestPipelined(t *testing.T) {
	conn, err := net.Dial("tcp", start(t))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 3))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	for i := range 3 {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "response %d", i)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(body))
	}
}

// Closing the listener ends connections still open, so Serve returns.
func TestCloseEndsOpenConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- leanserver.Serve(ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\n\r\n")
	require.NoError(t, err)
	_, err = http.ReadResponse(bufio.NewReader(conn), nil) // the connection is being served
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
	_, err = conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the server closed its side")
}
