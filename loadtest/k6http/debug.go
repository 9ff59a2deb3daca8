package k6http

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// dumpRequest writes a request as k6's --http-debug logs it: the head in
// net/http's wire order (Host, User-Agent, Content-Length, the rest
// sorted), then the body with DebugBodies.
func (c *Client) dumpRequest(req *Request, hreq *http.Request) string {
	var b strings.Builder
	b.WriteString("Request:\n")
	b.WriteString(hreq.Method + " " + hreq.URL.RequestURI() + " HTTP/1.1\n")
	b.WriteString("Host: " + hreq.Host + "\n")
	for _, ua := range hreq.Header["User-Agent"] {
		b.WriteString("User-Agent: " + ua + "\n")
	}
	if hreq.ContentLength > 0 || hreq.ContentLength == 0 && hreq.Body != nil && hreq.Body != http.NoBody {
		b.WriteString("Content-Length: " + strconv.FormatInt(hreq.ContentLength, 10) + "\n")
	}
	writeHeaderExcept(&b, hreq.Header, "User-Agent")
	b.WriteString("\n")
	if c.s.debugBodies && req.Body != nil {
		b.Write(req.Body)
	}
	b.WriteString("\n")
	return b.String()
}

// dumpResponse reports a response to Debug; with DebugBodies it reads the
// body (as it came, before decoding) and puts it back for the caller.
func (c *Client) dumpResponse(req *Request, resp *http.Response) error {
	var b strings.Builder
	b.WriteString("Response:\n" + resp.Proto + " " + resp.Status + "\n")
	writeHeaderExcept(&b, resp.Header, "")
	b.WriteString("\n")
	if c.s.debugBodies {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		b.Write(body)
	}
	b.WriteString("\n")
	c.s.debug(req, b.String())
	return nil
}

// writeHeaderExcept writes header lines sorted by name, without skip.
func writeHeaderExcept(b *strings.Builder, h http.Header, skip string) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if k == skip {
			continue
		}
		for _, v := range h[k] {
			b.WriteString(k + ": " + v + "\n")
		}
	}
}
