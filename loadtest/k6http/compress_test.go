package k6http_test

import (
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// decodingServer answers what it received: the Content-Encoding and
// Content-Length headers and the body, decoded with each library's own
// reader, last encoding first.
func decodingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ce := r.Header.Get("Content-Encoding")
		var rd io.Reader = r.Body
		encs := strings.Split(ce, ",")
		for i := len(encs) - 1; i >= 0 && ce != ""; i-- {
			var err error
			switch enc := strings.TrimSpace(encs[i]); enc {
			case "gzip":
				rd, err = gzip.NewReader(rd)
			case "deflate":
				rd = flate.NewReader(rd)
			case "br":
				rd = brotli.NewReader(rd)
			case "zstd":
				var d *zstd.Decoder
				d, err = zstd.NewReader(rd, zstd.WithDecoderConcurrency(1))
				if err == nil {
					defer d.Close()
					rd = d
				}
			default:
				err = fmt.Errorf("unknown encoding %q", enc)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		body, err := io.ReadAll(rd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprintf(w, "ce=%s|cl=%s|%s", ce, r.Header.Get("Content-Length"), body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCompress(t *testing.T) {
	t.Parallel()
	srv := decodingServer(t)
	plain := strings.Repeat("hello compression ", 20)
	for _, encs := range [][]string{{"gzip"}, {"deflate"}, {"br"}, {"zstd"}, {"gzip", "br"}, {"zstd", "deflate", "br"}} {
		body, err := k6http.Compress([]byte(plain), encs...)
		require.NoError(t, err)
		require.NotEqual(t, plain, string(body))
		ce := strings.Join(encs, ", ")
		for _, p := range paths {
			t.Run(ce+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
				r, err := c.Do(bg, &k6http.Request{Method: "POST", URL: srv.URL, Body: body,
					Header: http.Header{"Content-Encoding": {ce}}})
				require.NoError(t, err)
				require.Equal(t, 200, r.Status, "%s %s", r.Error, r.Body)
				assert.Equal(t, fmt.Sprintf("ce=%s|cl=%d|%s", ce, len(body), plain), string(r.Body))
			})
		}
	}
}

func TestCompressErrors(t *testing.T) {
	t.Parallel()
	for _, encs := range [][]string{{"lz4"}, {"gzip", "lz4"}, {""}} {
		_, err := k6http.Compress([]byte("x"), encs...)
		require.ErrorIs(t, err, k6http.ErrUnsupportedEncoding, "%q", encs)
	}
	out, err := k6http.Compress([]byte("as is"))
	require.NoError(t, err)
	assert.Equal(t, "as is", string(out), "no encodings: the body as it is")
}

// TestDecodersReused runs one client through good, corrupt and truncated
// bodies of each encoding in turn: a decoder the client keeps must not
// carry anything from one response to the next.
func TestDecodersReused(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
			for _, path := range []string{"zstd", "badzstd", "zstd", "cutzstd", "zstd", "br", "badbr", "br", "cutbr", "br",
				"gzip", "badgzip", "gzip", "zstd", "br"} {
				r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/" + path})
				require.NoError(t, err)
				if strings.HasPrefix(path, "bad") || strings.HasPrefix(path, "cut") {
					assert.Equal(t, 0, r.Status, path)
					assert.Equal(t, 1701, r.ErrorCode, path)
					assert.True(t, strings.HasPrefix(r.Error, "error decompressing response body ("), "%s: %q", path, r.Error)
					assert.Nil(t, r.Body, path)
					continue
				}
				assert.Equal(t, 200, r.Status, "%s: %s", path, r.Error)
				assert.Equal(t, "hello "+path, string(r.Body), path)
			}
		})
	}
}

// TestDecodedBodyIsTheCallers checks that a decoded body is not the
// decoder's buffer: a later response must not change an earlier one.
func TestDecodedBodyIsTheCallers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
			var bodies [][]byte
			for _, path := range []string{"zstd", "br", "zstd", "br"} {
				r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/" + path})
				require.NoError(t, err)
				require.Equal(t, 200, r.Status, r.Error)
				bodies = append(bodies, r.Body)
			}
			assert.Equal(t, [][]byte{[]byte("hello zstd"), []byte("hello br"), []byte("hello zstd"), []byte("hello br")}, bodies)
		})
	}
}

// zstdFrame is a zstd frame header with the given window descriptor and an
// 8-byte content size, then one raw block holding "x".
func zstdFrame(window byte, contentSize uint64) []byte {
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xc0, window}
	f = binary.LittleEndian.AppendUint64(f, contentSize)
	return append(f, 0x09, 0x00, 0x00, 'x')
}

// A target's zstd body cannot make the client allocate what its frame
// header claims (DecodeAll would take 4 GiB for these 18 bytes), nor a
// window past HTTP's 8 MiB; both are decompression errors. Not parallel:
// it measures the process's allocations.
func TestZstdClaimsAreNotTrusted(t *testing.T) {
	bodies := map[string][]byte{
		"/size":   zstdFrame(0x00, 4<<30), // 4 GiB of content claimed, 1 byte given
		"/window": zstdFrame(0xf0, 1),     // a 1 TiB window
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "zstd")
		_, _ = w.Write(bodies[r.URL.Path])
	}))
	defer srv.Close()
	for _, p := range paths {
		c := newClient(t, nil, k6http.Options{DisableFastPath: p.std})
		for path := range bodies {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := c.Do(bg, &k6http.Request{URL: srv.URL + path})
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			assert.Equal(t, 1701, r.ErrorCode, "%s %s: %s", p.name, path, r.Error)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "%s %s: bytes allocated", p.name, path)
		}
	}
}
