package k6http_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// recorder keeps copies of the batches a client emits.
type recorder struct {
	batches [][]metrics.Sample
}

func (r *recorder) emit(s []metrics.Sample) { r.batches = append(r.batches, slices.Clone(s)) }

func (r *recorder) last() []metrics.Sample {
	if len(r.batches) == 0 {
		return nil
	}
	return r.batches[len(r.batches)-1]
}

// value returns the value of metric in batch, and whether it is there.
func value(batch []metrics.Sample, metric string) (float64, bool) {
	for _, s := range batch {
		if s.Metric.Name == metric {
			return s.Value, true
		}
	}
	return 0, false
}

func names(batch []metrics.Sample) []string {
	out := make([]string, len(batch))
	for i, s := range batch {
		out[i] = s.Metric.Name
	}
	return out
}

func newClient(t testing.TB, rec *recorder, opts k6http.Options) *k6http.Client {
	t.Helper()
	var emit k6http.Emitter
	if rec != nil {
		emit = rec.emit
	}
	c, err := k6http.NewClient(metrics.NewRegistry(), emit, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// encode compresses s with the br or zstd library directly, not with the
// package's own Compress.
func encode(t testing.TB, enc, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		require.NoError(t, err)
		w = zw
	default:
		t.Fatalf("encode: unknown encoding %q", enc)
	}
	_, err := io.WriteString(w, s)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// newServer starts the loopback HTTP server the tests request. conns
// counts the connections it accepted.
func newServer(t testing.TB, conns *atomic.Int64) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			_, _ = io.WriteString(w, "landed")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/see-other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusSeeOther)
	})
	mux.HandleFunc("/keep-method", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hel")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "lo chunks")
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, "hello gzip")
		_ = zw.Close()
	})
	mux.HandleFunc("/deflate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "deflate")
		zw := zlib.NewWriter(w)
		_, _ = io.WriteString(zw, "hello deflate")
		_ = zw.Close()
	})
	mux.HandleFunc("/badgzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = io.WriteString(w, "not gzip at all")
	})
	for _, enc := range []string{"br", "zstd"} {
		body := encode(t, enc, "hello "+enc)
		mux.HandleFunc("/"+enc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", enc)
			_, _ = w.Write(body)
		})
		mux.HandleFunc("/bad"+enc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", enc)
			_, _ = io.WriteString(w, "not "+enc+" at all")
		})
		mux.HandleFunc("/cut"+enc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", enc)
			_, _ = w.Write(body[:len(body)-3])
		})
	}
	mux.HandleFunc("/setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc", Path: "/"})
		_, _ = io.WriteString(w, "set")
	})
	mux.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Cookie"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		_, _ = fmt.Fprintf(w, "%s %s|ua=%s|x=%s|cl=%q|te=%v|ref=%s", r.Method, body, r.UserAgent(),
			r.Header.Get("X-Test"), r.Header.Get("Content-Length"), r.TransferEncoding, r.Referer())
	})
	srv := httptest.NewUnstartedServer(mux)
	if conns != nil {
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// rawServer serves each connection with handle, for exchanges net/http's
// server will not make (resets, HTTP/1.0, 1xx, close-delimited bodies).
// It returns the base URL.
func rawServer(t testing.TB, handle func(conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				handle(conn, bufio.NewReader(conn))
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// serveRaw answers every request on the connection with resp, keeping the
// connection open while keep is set.
func serveRaw(resp string, keep bool) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(conn, resp); err != nil || !keep {
				return
			}
		}
	}
}

// refusedURL returns a loopback URL nothing listens on.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/"
}

func tagMap(batch []metrics.Sample) map[string]string {
	if len(batch) == 0 {
		return nil
	}
	return batch[0].Tags.Map()
}

func intp(n int) *int { return &n }

var bg = context.Background()
