package k6http

import (
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// Request is one k6 HTTP request: what k6/http's request(method, url,
// body, params) takes. The client reads it and never modifies it; a
// Response keeps a pointer to it.
type Request struct {
	// Method defaults to GET.
	Method string
	// URL is absolute, http:// or https://.
	URL string
	// Body is sent with a Content-Length. POST, PUT and PATCH send
	// "Content-Length: 0" when it is empty, as Go and k6 do.
	Body []byte
	// BodyReader, used when Body is nil, is streamed with chunked encoding
	// through net/http. It is read once: a 307 or 308 redirect is not
	// followed (the redirect response is returned).
	BodyReader io.Reader
	// Header is sent as given. Host sets the Host header, User-Agent
	// replaces the client's (an empty value sends none), Cookie is merged
	// with the jar's cookies. Content-Length and Transfer-Encoding are
	// ignored.
	Header http.Header
	// Tags are the request's own tags (k6's params.tags). A "name" tag
	// replaces the URL in the name tag and in the url tag too, as in k6.
	Tags metrics.Tags
	// VUTags are the tags of the VU making the request: the run's tags, the
	// scenario, the group and the VU's own tags, already filtered by the
	// enabled system tags. Request tags override them; system tags
	// override both. A VU's client fills in VUTags and Metadata when a
	// request sets neither (Options.VUDefaults); the Response then points
	// at a copy of the request holding them.
	VUTags metrics.Tags
	// Metadata is set as is on every sample of the request (k6's vu, iter
	// and exec.vu.metrics.metadata). It is not copied.
	Metadata map[string]string
	// Cookies are sent with the jar's cookies for the URL (k6's
	// params.cookies).
	Cookies []Cookie
	// Jar, when not nil, replaces the client's cookie jar for this request
	// and its redirects (k6's params.jar): its cookies are sent and the
	// cookies the responses set are stored in it, not in the client's.
	Jar http.CookieJar
	// Timeout replaces Options.Timeout when > 0.
	Timeout time.Duration
	// Redirects replaces Options.MaxRedirects when not nil.
	Redirects *int
	// ExpectedStatuses replaces Options.ExpectedStatuses when not nil;
	// [ExpectNone] disables http_req_failed and expected_response.
	ExpectedStatuses ExpectedStatuses
	// DigestAuth answers a 401 whose WWW-Authenticate offers Digest (RFC
	// 7616: MD5 or SHA-256, qop auth) once, with the user and password of
	// the URL, as k6's params.auth "digest" does; that 401 counts as an
	// expected response.
	DigestAuth bool
	// ResponseType says what to keep of the body.
	ResponseType ResponseType
}

// Cookie is a cookie sent with one request. Without Replace it is sent
// beside a jar cookie of the same name; with Replace it is sent instead.
type Cookie struct {
	Name, Value string
	Replace     bool
}

// ResponseType says whether the body is kept (k6's params.responseType).
type ResponseType uint8

// The response types. Text and binary both keep the bytes: the difference
// is for the JavaScript layer (string or ArrayBuffer).
const (
	ResponseDefault ResponseType = iota // text, or none with DiscardResponseBodies
	ResponseText
	ResponseBinary
	ResponseNone // read off the wire and dropped; Body is nil
)

// StatusRange is an inclusive range of HTTP statuses; {404, 404} is one.
type StatusRange struct{ Min, Max int }

// ExpectedStatuses are the statuses that count as expected: k6's
// http.expectedStatuses(...) response callback. A nil value means "not
// set" (the default applies); an empty, non-nil one is k6's null callback.
type ExpectedStatuses []StatusRange

// ExpectNone returns the empty, non-nil set: no http_req_failed sample and
// no expected_response tag (k6's responseCallback: null).
func ExpectNone() ExpectedStatuses { return ExpectedStatuses{} }

// Expected reports whether status is in one of the ranges.
func (e ExpectedStatuses) Expected(status int) bool {
	for _, r := range e {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// Timings are k6's response timings, in milliseconds. Duration is
// Sending + Waiting + Receiving; Blocked (waiting for a connection)
// includes LookingUp, Connecting and TLSHandshaking for a new connection
// and is near 0 for a reused one.
type Timings struct {
	Duration       float64 `json:"duration"`
	Blocked        float64 `json:"blocked"`
	LookingUp      float64 `json:"looking_up"`
	Connecting     float64 `json:"connecting"`
	TLSHandshaking float64 `json:"tls_handshaking"`
	Sending        float64 `json:"sending"`
	Waiting        float64 `json:"waiting"`
	Receiving      float64 `json:"receiving"`
}

// Response is the result of a request: k6's http.Response. A request that
// failed on the network has Status 0, Error and ErrorCode set; a status
// >= 400 sets ErrorCode to 1000+status and leaves Error empty.
type Response struct {
	Status     int    // 0 when the request failed
	StatusText string // "200 OK", as the server sent it
	Proto      string // "HTTP/1.1", "HTTP/1.0" or "HTTP/2.0"
	URL        string // the URL of the last hop, after redirects
	// Body is the decoded (gzip, deflate, br, zstd) body, nil for
	// ResponseNone or when empty.
	Body           []byte
	RemoteIP       string
	RemotePort     int
	TLSVersion     string // "tls1.2", "tls1.3"; "" for plain HTTP
	TLSCipherSuite string // e.g. "TLS_AES_128_GCM_SHA256"
	Timings        Timings
	Error          string // k6's error text, "" without a network error
	ErrorCode      int    // k6's error code, 0 when none
	// Request is the request of the last hop: the caller's request without
	// redirects, a copy with the new method and URL after them.
	Request *Request

	header    http.Header // from net/http, or built by Headers
	rawHeader []byte      // fast path: header lines as received, each ending in "\n"
	userAgent string      // the client's User-Agent, sent when the request has none
	cookie    string      // the Cookie header sent: the request's, the jar's and Request.Cookies
	buf       []byte      // fast path: rawHeader and Body's memory, for DoInto to read the next response into
}

// RequestHeader returns the headers of the last hop's request as k6 shows
// them in res.request.headers: the request's headers with canonical keys,
// the client's User-Agent when the request set none, and Cookie as sent
// (the request's own Cookie header merged with the jar's cookies and
// Request.Cookies). Host, Content-Length and the like that the transport
// writes are not included, as in k6. It makes a new map on every call.
func (r *Response) RequestHeader() http.Header {
	var src http.Header
	if r.Request != nil {
		src = r.Request.Header
	}
	h := make(http.Header, len(src)+2)
	for k, vs := range src {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		h[ck] = append(h[ck], vs...)
	}
	if _, ok := h["User-Agent"]; !ok && r.userAgent != "" {
		h["User-Agent"] = []string{r.userAgent}
	}
	if r.cookie != "" {
		h["Cookie"] = []string{r.cookie}
	}
	return h
}

// Header returns the first value of the header key (case-insensitive), or
// "".
func (r *Response) Header(key string) string {
	if r.header != nil {
		return r.header.Get(key)
	}
	v, _ := findHeader(r.rawHeader, key)
	return v
}

// Headers returns all response headers with canonical keys. It builds the
// map on first use for responses read by the fast path; do not modify it.
func (r *Response) Headers() http.Header {
	if r.header == nil {
		h := make(http.Header)
		for k, v := range eachHeader(r.rawHeader) {
			ck := textproto.CanonicalMIMEHeaderKey(k)
			h[ck] = append(h[ck], v)
		}
		r.header = h
	}
	return r.header
}

// Cookies returns the cookies set by the response (Set-Cookie headers).
func (r *Response) Cookies() []*http.Cookie {
	var out []*http.Cookie
	for _, line := range r.headerValues("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (r *Response) headerValues(key string) []string {
	if r.header != nil {
		return r.header.Values(key)
	}
	var vs []string
	for k, v := range eachHeader(r.rawHeader) {
		if strings.EqualFold(k, key) {
			vs = append(vs, v)
		}
	}
	return vs
}

// eachHeader iterates over raw header lines "Name: value\n".
func eachHeader(raw []byte) func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for len(raw) > 0 {
			line := raw
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				line, raw = raw[:i], raw[i+1:]
			} else {
				raw = nil
			}
			k, v, ok := bytes.Cut(line, []byte{':'})
			if !ok {
				continue
			}
			if !yield(string(k), string(trimOWS(v))) {
				return
			}
		}
	}
}

// findHeader returns the first value of key in raw header lines.
func findHeader(raw []byte, key string) (string, bool) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > len(key) && line[len(key)] == ':' && asciiEqualFold(line[:len(key)], key) {
			return string(trimOWS(line[len(key)+1:])), true
		}
	}
	return "", false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
