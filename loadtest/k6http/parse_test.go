package k6http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type parsed struct {
	status  int
	text    string
	proto   string
	hdr     string
	body    string
	close   bool
	framing framing
	enc     encoding
}

// parseOne reads one response from br.
func parseOne(p *parser, br *bufio.Reader, method string) (parsed, error) {
	var h head
	if err := p.readHead(br, method, &h); err != nil {
		return parsed{}, err
	}
	out := parsed{status: h.status, text: string(h.text), proto: h.proto, hdr: string(p.hdr),
		close: h.close, framing: h.framing, enc: h.encoding}
	body, err := p.readBody(br, &h, nil, true)
	out.body = string(body)
	return out, err
}

var parseCases = []struct {
	name   string
	method string
	in     string
	want   parsed
	err    string
}{
	{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A:  b \r\n\r\nok",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Content-Length: 2\nX-A: b\n", body: "ok", framing: bodyLength}},
	{name: "bare LF", in: "HTTP/1.1 404 Not Found\nContent-Length: 0\n\n",
		want: parsed{status: 404, text: "404 Not Found", proto: "HTTP/1.1", hdr: "Content-Length: 0\n", framing: bodyNone}},
	{name: "no reason", in: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		want: parsed{status: 200, text: "200", proto: "HTTP/1.1", hdr: "Content-Length: 0\n"}},
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n3;ext=1\r\nhel\r\n6\r\nlo you\r\n0\r\nTrailer: x\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", body: "hello you", framing: bodyChunked}},
	{name: "chunked uppercase hex", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", body: "0123456789", framing: bodyChunked}},
	{name: "close-delimited", in: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nto the end",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Server: x\n", body: "to the end", close: true, framing: bodyEOF}},
	{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Connection: keep-alive, Close\nContent-Length: 1\n", body: "x", close: true, framing: bodyLength}},
	{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.0", hdr: "Content-Length: 1\n", body: "x", close: true, framing: bodyLength}},
	{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.0", hdr: "Connection: keep-alive\nContent-Length: 1\n", body: "x", framing: bodyLength}},
	{name: "HTTP/1.0 ignores transfer-encoding", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nraw",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.0", hdr: "Transfer-Encoding: chunked\n", body: "raw", close: true, framing: bodyEOF}},
	{name: "1xx skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
		want: parsed{status: 201, text: "201 Created", proto: "HTTP/1.1", hdr: "Content-Length: 1\n", body: "x", framing: bodyLength}},
	{name: "HEAD has no body", method: "HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Content-Length: 10\n", framing: bodyNone}},
	{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		want: parsed{status: 204, text: "204 No Content", proto: "HTTP/1.1", hdr: "Content-Length: 10\n", framing: bodyNone}},
	{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\n\r\n",
		want: parsed{status: 304, text: "304 Not Modified", proto: "HTTP/1.1", framing: bodyNone}},
	{name: "folded header", in: "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "X-Long: a b\nContent-Length: 0\n"}},
	{name: "gzip", in: "HTTP/1.1 200 OK\r\nContent-Encoding: GZIP\r\nContent-Length: 0\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Content-Encoding: GZIP\nContent-Length: 0\n", enc: encGzip}},
	{name: "same content-length twice", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.1", hdr: "Content-Length: 1\nContent-Length: 1\n", body: "x", framing: bodyLength}},
	{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
		want: parsed{status: 200, text: "200 OK", proto: "HTTP/1.2", hdr: "Content-Length: 0\n"}},

	{name: "empty", in: "", err: "EOF"},
	{name: "cut in status line", in: "HTTP/1.1 20", err: "unexpected EOF"},
	{name: "cut in headers", in: "HTTP/1.1 200 OK\r\nContent-Le", err: "unexpected EOF"},
	{name: "cut in body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", err: "unexpected EOF"},
	{name: "cut in chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok", err: "unexpected EOF"},
	{name: "no space", in: "HTTP/1.1\r\n\r\n", err: "malformed HTTP response"},
	{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: "malformed HTTP status code"},
	{name: "bad version", in: "HTTX/1.1 200 OK\r\n\r\n", err: "malformed HTTP version"},
	{name: "no colon", in: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", err: "malformed MIME header line"},
	{name: "bad name", in: "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", err: "malformed MIME header line"},
	{name: "control byte", in: "HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", err: "malformed MIME header line"},
	{name: "empty name", in: "HTTP/1.1 200 OK\r\n: x\r\n y\r\n\r\n", err: "malformed MIME header line"},
	{name: "fold first", in: "HTTP/1.1 200 OK\r\n x\r\n\r\n", err: "malformed MIME header initial line"},
	{name: "conflicting content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", err: "multiple Content-Length"},
	{name: "bad content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "bad Content-Length"},
	{name: "unsupported transfer-encoding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: "unsupported transfer encoding"},
	{name: "two transfer-encodings", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: "too many transfer encodings"},
	{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: "invalid byte in chunk length"},
	{name: "huge chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", err: "chunk length too large"},
	{name: "chunk without CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", err: "malformed chunked encoding"},
	{name: "too many 1xx", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\n\r\n", err: "too many 1xx"},
	{name: "headers too large", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 1<<20) + "\r\n\r\n", err: "exceeded the limit"},
	{name: "chunk line too long", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("x", 5000) + "\r\n", err: "header line too long"},
}

func TestParser(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newParser(limits{header: maxHeaderBytes, chunkLine: maxChunkLine})
			method := tc.method
			if method == "" {
				method = "GET"
			}
			got, err := parseOne(p, bufio.NewReaderSize(strings.NewReader(tc.in), 64), method)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestParserMatchesNetHTTP checks the table's well-formed responses against
// net/http's reader: same status, body and framing decisions.
func TestParserMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		if tc.err != "" || strings.HasPrefix(tc.in, "HTTP/1.1 1") {
			continue // http.ReadResponse leaves 1xx to the transport (TestClient covers it)
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req, err := http.NewRequest(method, "http://x/", nil)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.in)), req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.want.status, resp.StatusCode)
			assert.Equal(t, tc.want.text, resp.Status)
			assert.Equal(t, tc.want.proto, resp.Proto)
			assert.Equal(t, tc.want.body, string(body))
			assert.Equal(t, tc.want.close, resp.Close, "close")
		})
	}
}

// countingReader counts what the parser pulled from its source.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// FuzzParser: the parser never panics, never reads more than its limits
// allow, and never reads past the end of a framed response (two copies of
// a response back to back parse to the same thing twice).
func FuzzParser(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), tc.method == "HEAD")
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, isHead bool) {
		method := "GET"
		if isHead {
			method = "HEAD"
		}
		const bufSize = 16
		lim := limits{header: 256, chunkLine: 64}
		src := &countingReader{r: bytes.NewReader(in)}
		p := newParser(lim)
		br := bufio.NewReaderSize(src, bufSize)
		var h head
		err := p.readHead(br, method, &h)
		if errors.Is(err, errHeaderTooLarge) {
			if src.n > lim.header+2*bufSize {
				t.Fatalf("read %d bytes for a head limited to %d", src.n, lim.header)
			}
			return
		}
		if err != nil {
			return
		}
		if len(p.hdr) > lim.header {
			t.Fatalf("kept %d header bytes, limit %d", len(p.hdr), lim.header)
		}
		first := parsed{status: h.status, text: string(h.text), proto: h.proto, hdr: string(p.hdr), framing: h.framing}
		body, err := p.readBody(br, &h, nil, true)
		if err != nil || h.framing == bodyEOF {
			return
		}
		if len(body) > len(in) {
			t.Fatalf("body of %d bytes from %d bytes of input", len(body), len(in))
		}
		first.body = string(body)
		// What one response consumed, a second copy must parse the same.
		consumed := src.n - br.Buffered()
		twice := append(append([]byte{}, in[:consumed]...), in[:consumed]...)
		br2 := bufio.NewReaderSize(bytes.NewReader(twice), bufSize)
		p2 := newParser(lim)
		for i := range 2 {
			var h2 head
			if err := p2.readHead(br2, method, &h2); err != nil {
				t.Fatalf("copy %d: %v", i, err)
			}
			got := parsed{status: h2.status, text: string(h2.text), proto: h2.proto, hdr: string(p2.hdr), framing: h2.framing}
			b2, err := p2.readBody(br2, &h2, nil, true)
			if err != nil {
				t.Fatalf("copy %d body: %v", i, err)
			}
			got.body = string(b2)
			if got != first {
				t.Fatalf("copy %d parsed to %+v, want %+v", i, got, first)
			}
		}
		// Discarding reads the same bytes as keeping.
		br3 := bufio.NewReaderSize(bytes.NewReader(in[:consumed]), bufSize)
		p3 := newParser(lim)
		var h3 head
		if err := p3.readHead(br3, method, &h3); err != nil {
			t.Fatal(err)
		}
		if _, err := p3.readBody(br3, &h3, nil, false); err != nil {
			t.Fatalf("discarding: %v", err)
		}
		if br3.Buffered() != 0 {
			t.Fatalf("discarding left %d bytes", br3.Buffered())
		}
	})
}

// FuzzParserVsNetHTTP: whatever the parser accepts, net/http reads the
// same way (status, text, protocol, body, keep-alive), so that both paths
// of the client agree on every response the fast path takes.
func FuzzParserVsNetHTTP(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), tc.method == "HEAD")
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, isHead bool) {
		method := "GET"
		if isHead {
			method = "HEAD"
		}
		p := newParser(limits{header: maxHeaderBytes, chunkLine: maxChunkLine})
		br := bufio.NewReader(bytes.NewReader(in))
		var h head
		if err := p.readHead(br, method, &h); err != nil || h.status < 200 {
			return // net/http's ReadResponse leaves 1xx to the transport
		}
		ours := parsed{status: h.status, text: string(h.text), proto: h.proto, close: h.close}
		body, err := p.readBody(br, &h, nil, true)
		if err != nil {
			return
		}
		ours.body = string(body)
		req, _ := http.NewRequest(method, "http://x/", nil)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), req)
		if err != nil {
			t.Fatalf("we accept, net/http does not: %v\nours: %+v", err, ours)
		}
		if resp.StatusCode < 200 {
			return // a 1xx head we skipped, as the transport does
		}
		gb, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("we read the body, net/http does not: %v\nours: %+v", err, ours)
		}
		theirs := parsed{status: resp.StatusCode, text: resp.Status, proto: resp.Proto, body: string(gb), close: resp.Close}
		if h.framing == bodyEOF {
			theirs.close = true // net/http decides that in the transport
		}
		if theirs != ours {
			t.Fatalf("ours %+v\nnet/http %+v", ours, theirs)
		}
	})
}
