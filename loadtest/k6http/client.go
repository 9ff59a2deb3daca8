package k6http

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/metrics"
)

// Emitter receives the samples of one request hop, once per hop, in k6's
// order: http_reqs, http_req_duration, http_req_blocked,
// http_req_connecting, http_req_tls_handshaking, http_req_sending,
// http_req_waiting, http_req_receiving and, unless expected statuses are
// disabled, http_req_failed. All have the same time: the end of the hop.
//
// The slice belongs to the client and is reused by its next request: an
// Emitter copies the samples it keeps (a Sample is a small value; its Tags
// are immutable and may be kept as they are). It is called on the
// goroutine that called [Client.Do].
type Emitter func(samples []metrics.Sample)

// Client is one VU's instrumented HTTP client: it makes k6 requests, times
// them as k6 does and emits k6's samples. It owns its connections and its
// cookie jar.
//
// Plain http:// and https:// HTTP/1.1 exchanges take the client's own lean
// path (one keep-alive connection per host, reused buffers, no per-request
// maps); anything else (HTTP/2, proxies, streamed bodies, Expect:
// 100-continue, unusual headers) goes through net/http with httptrace.
// Both produce the same samples and tags.
//
// A Client is not safe for concurrent use: call its methods from the VU's
// goroutine, except [Client.TakeIO], which is safe from any goroutine.
// [Client.Batch] and [Client.Start] run requests in parallel on clients
// of their own.
type Client struct {
	s    settings
	m    [9]*metrics.Metric // in k6's order; m[8] is http_req_failed
	emit Emitter

	batch      []metrics.Sample
	tags       map[tagKey]tagEntry
	lastKey    tagKey // the last tag set used, checked before the map
	last       tagEntry
	hasLast    bool
	urls       map[string]*target
	lastTarget *target           // the last URL's, checked before the map
	texts      map[string]string // interned status texts
	lastText   string            // the last one, checked before the map

	// fast path
	idle []*fconn
	lent *lentIdle // the idle connections of the client whose batch this client runs
	// checkIdle is the idle time after which a connection is checked
	// before reuse (a constant but for tests).
	checkIdle time.Duration
	tlsMu     sync.Mutex             // the transport's dials use tlsConf too
	tlsConf   map[string]*tls.Config // per server name
	h2        map[string]bool        // pool keys whose servers chose HTTP/2
	gz        *gzip.Reader
	brotli    *brotli.Reader // made on first use, as gz and zstd
	zstd      *zstd.Decoder

	// net/http path, made on first use
	tr *http.Transport

	jar     vuJar
	jarUsed bool

	dnsMu sync.Mutex
	dns   map[string]dnsEntry

	sent, received atomic.Int64

	// interruption of the fast path when the caller's context ends
	activeMu  sync.Mutex
	active    *fconn
	watchDone <-chan struct{}
	stopWatch func() bool

	slots []*batchSlot // Batch's clients, made on first use
	spare []*batchSlot // Start's clients not in use, made on first use

	closed bool
}

// NewClient returns a client that resolves k6's built-in HTTP metrics in
// reg and hands each request's samples to emit (nil discards them). It
// fails for options that make no sense, such as an unknown system tag.
func NewClient(reg *metrics.Registry, emit Emitter, opts Options) (*Client, error) {
	if reg == nil {
		return nil, errors.New("k6http: nil registry")
	}
	s, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("k6http options: %w", err)
	}
	c := newClient(s, emit)
	for i, name := range []string{metrics.HTTPReqs, metrics.HTTPReqDuration, metrics.HTTPReqBlocked,
		metrics.HTTPReqConnecting, metrics.HTTPReqTLSHandshaking, metrics.HTTPReqSending,
		metrics.HTTPReqWaiting, metrics.HTTPReqReceiving, metrics.HTTPReqFailed} {
		if c.m[i] = reg.Get(name); c.m[i] == nil {
			return nil, fmt.Errorf("k6http: registry lacks the built-in metric %q", name)
		}
	}
	if c.jar.Jar, err = cookiejar.New(nil); err != nil {
		return nil, fmt.Errorf("k6http: cookie jar: %w", err)
	}
	return c, nil
}

// newClient returns a client without metrics and jar: NewClient's, or a
// batch slot's.
func newClient(s settings, emit Emitter) *Client {
	// The caches are made on their first entry but one: a VU that
	// requests one URL keeps the last entry of each, and no map (a
	// map's first group takes eight entries; pprof heap of 2 000 idle
	// VUs: newClient and tagsFor held 2.1 KB per VU).
	return &Client{s: s, emit: emit, batch: make([]metrics.Sample, 0, 9), checkIdle: checkIdle}
}

// Jar returns the client's cookie jar (k6's http.cookieJar()). Cookies set
// through it are sent with later requests.
func (c *Client) Jar() http.CookieJar {
	c.jarUsed = true
	return &c.jar
}

// ResetCookies empties the client's cookie jar, as k6 does before every
// iteration unless noCookiesReset is set. The jar Jar returned stays the
// client's jar.
func (c *Client) ResetCookies() {
	if !c.jarUsed {
		return // nothing was ever stored
	}
	if jar, err := cookiejar.New(nil); err == nil {
		c.jar.Jar = jar
	}
}

// vuJar is the client's cookie jar: a handle that stays the same while
// ResetCookies replaces what it holds.
type vuJar struct{ *cookiejar.Jar }

// TakeIO returns the bytes written to and read from the network since the
// last call (TLS records and headers included), for the engine's data_sent
// and data_received samples at the end of an iteration. It is safe for
// concurrent use.
func (c *Client) TakeIO() (sent, received int64) {
	return c.sent.Swap(0), c.received.Swap(0)
}

// CloseIdleConnections closes the connections kept alive between requests
// (k6's noVUConnectionReuse does it after every iteration).
func (c *Client) CloseIdleConnections() {
	for _, fc := range c.idle {
		fc.close()
	}
	clear(c.idle)
	c.idle = c.idle[:0]
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
	for _, s := range c.slots {
		s.c.CloseIdleConnections()
	}
	for _, s := range c.spare {
		s.c.CloseIdleConnections()
	}
}

// Close closes the client's connections; later calls of Do fail with
// [ErrClosed]. It is idempotent.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	for _, s := range c.slots {
		_ = s.c.Close()
	}
	for _, s := range c.spare {
		_ = s.c.Close()
	}
	c.CloseIdleConnections()
	if c.zstd != nil {
		c.zstd.Close()
		c.zstd = nil
	}
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	return nil
}

// Do makes the request, following redirects, and returns the response of
// the last hop. Every hop emits its samples. A request that fails on the
// network (refused, reset, timeout, DNS, TLS) is not an error: its
// Response has Status 0, Error and ErrorCode. A URL that cannot be used
// gives a Response with ErrorCode 1020 and no samples, as in k6.
//
// Do returns an error only for misuse (nil request, closed client) and
// when ctx ends before the request completes (the cause of ctx, no
// samples: the iteration is being interrupted).
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	r := new(Response)
	if err := c.DoInto(ctx, req, r); err != nil {
		return nil, err
	}
	return r, nil
}

// DoInto is Do writing the response into resp, whose memory it reuses: a
// caller that makes request after request and keeps no response, as the
// request plan's VUs do, allocates nothing per request (pprof of
// BenchmarkRunRequests: the Response and the buffer of its head were the
// two allocations of a request). What resp held before, Body included, is
// overwritten; on an error its contents are unspecified.
func (c *Client) DoInto(ctx context.Context, req *Request, resp *Response) error {
	if req == nil {
		return errors.New("k6http: nil request")
	}
	if c.closed {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	c.watch(ctx)
	req = c.withVUDefaults(req)
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = c.s.timeout
	}
	t, err := c.target(req.URL)
	if err != nil {
		*resp = Response{URL: req.URL, Error: err.Error(), ErrorCode: CodeInvalidURL, Request: req, buf: resp.buf}
		return nil
	}
	maxRedirects := c.s.maxRedirects
	if req.Redirects != nil {
		maxRedirects = max(*req.Redirects, 0)
	}
	keep := req.ResponseType == ResponseText || req.ResponseType == ResponseBinary ||
		req.ResponseType == ResponseDefault && !c.s.discard
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	now := time.Now()
	h := hop{req: req, t: t, method: method, keep: keep, start: now, deadline: now.Add(timeout), digest: req.DigestAuth}
	for n := 0; ; n++ {
		if err := c.roundTrip(ctx, &h, resp); err != nil {
			return err
		}
		if h.digest {
			if next, ok := c.digestHop(&h, resp); ok {
				h = next
				continue
			}
		}
		if resp.Status == 0 || n >= maxRedirects || !isRedirect(resp.Status) {
			return nil
		}
		next, ok := c.redirect(&h, resp)
		if !ok {
			return nil
		}
		h = next
	}
}

// withVUDefaults returns req, or a copy of it with the VU's tags and
// metadata when it carries neither and the client has VUDefaults.
func (c *Client) withVUDefaults(req *Request) *Request {
	if c.s.vuDefaults == nil || req.VUTags.Len() > 0 || req.Metadata != nil {
		return req
	}
	cp := *req
	cp.VUTags, cp.Metadata = c.s.vuDefaults()
	return &cp
}

// hop is one request of a redirect chain.
type hop struct {
	req      *Request // as the Response echoes it
	t        *target
	method   string
	keep     bool      // keep the body
	start    time.Time // when the hop began; zero: at roundTrip
	deadline time.Time
	// digest: a 401 with a Digest challenge is answered by the next hop,
	// and counts as expected, as in k6
	digest bool
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// redirect returns the next hop after r, as Go's client (and so k6)
// makes it, or false to stop at r.
func (c *Client) redirect(h *hop, r *Response) (hop, bool) {
	loc := r.Header("Location")
	if loc == "" {
		return hop{}, false
	}
	u, err := h.t.u.Parse(loc)
	if err != nil {
		return hop{}, false
	}
	t, err := c.target(u.String())
	if err != nil {
		return hop{}, false
	}
	next := *h.req
	next.URL = t.str
	next.Method = h.method
	switch r.Status {
	case 301, 302, 303:
		if h.method != http.MethodGet && h.method != http.MethodHead {
			next.Method = http.MethodGet
		}
		next.Body, next.BodyReader = nil, nil
	default: // 307, 308
		if next.BodyReader != nil {
			return hop{}, false // read once: cannot be replayed
		}
	}
	hdr := make(http.Header, len(h.req.Header)+1)
	for k, v := range h.req.Header {
		hdr[k] = v
	}
	if !sameDomain(t.hostname, h.t.hostname) {
		for k := range hdr {
			switch strings.ToLower(k) {
			case "authorization", "www-authenticate", "cookie", "cookie2":
				delete(hdr, k)
			}
		}
		next.Cookies = nil
	}
	if !(h.t.https && !t.https) {
		ref := *h.t.u
		ref.User = nil
		hdr.Set("Referer", ref.String())
	}
	next.Header = hdr
	return hop{req: &next, t: t, method: next.Method, keep: h.keep, deadline: h.deadline}, true
}

// sameDomain reports whether host is dst or one of its subdomains, Go's
// rule for forwarding credentials on a redirect.
func sameDomain(dst, orig string) bool {
	if dst == orig {
		return true
	}
	return strings.HasSuffix(dst, "."+orig)
}

// target returns the parsed form of raw, cached.
func (c *Client) target(raw string) (*target, error) {
	if c.lastTarget != nil && c.lastTarget.raw == raw {
		return c.lastTarget, nil
	}
	if t, ok := c.urls[raw]; ok {
		c.lastTarget = t
		return t, nil
	}
	t, err := parseTarget(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidURL, err)
	}
	t.raw = raw
	switch {
	case c.urls == nil && c.lastTarget == nil: // the first: lastTarget is cache enough
	case c.urls == nil:
		c.urls = map[string]*target{c.lastTarget.raw: c.lastTarget, raw: t}
	default:
		if len(c.urls) >= maxCached {
			clear(c.urls)
		}
		c.urls[raw] = t
	}
	c.lastTarget = t
	return t, nil
}

// maxCached bounds each of the client's caches (URLs, tag sets).
const maxCached = 4096

// exchange is what one hop measured and received, whichever path made it.
type exchange struct {
	start, dnsStart, dnsDone, connStart, connDone, tlsStart, tlsDone time.Time
	gotConn, wrote, firstByte, end                                   time.Time

	status     int
	statusText string
	proto      string
	rawHeader  []byte      // fast path
	buf        []byte      // fast path: what the head and body were read into, the response's to reuse
	header     http.Header // net/http path
	body       []byte
	ip         string
	port       int
	tlsVersion string
	cipher     string
	cookie     string // the Cookie header sent
	err        error
	handoff    *handoff // the fast path's connection to an HTTP/2 server, for std
}

func ms(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond)
}

// timings computes k6's timings from the marks, as k6's tracer does: a
// phase that did not happen is 0, waiting without a first byte runs to the
// end, sending starts when the connection was ready.
func (x *exchange) timings() Timings {
	var t Timings
	if !x.gotConn.IsZero() {
		t.Blocked = ms(x.gotConn.Sub(x.start))
	}
	if !x.dnsStart.IsZero() && !x.dnsDone.IsZero() {
		t.LookingUp = ms(x.dnsDone.Sub(x.dnsStart))
	}
	if !x.connStart.IsZero() && !x.connDone.IsZero() {
		t.Connecting = ms(x.connDone.Sub(x.connStart))
	}
	if !x.tlsStart.IsZero() && !x.tlsDone.IsZero() {
		t.TLSHandshaking = ms(x.tlsDone.Sub(x.tlsStart))
	}
	if !x.wrote.IsZero() {
		ready := x.gotConn
		switch {
		case !x.tlsDone.IsZero():
			ready = x.tlsDone
		case !x.connDone.IsZero():
			ready = x.connDone
		}
		t.Sending = ms(x.wrote.Sub(ready))
		if !x.firstByte.IsZero() {
			t.Waiting = ms(x.firstByte.Sub(x.wrote))
		} else {
			t.Waiting = ms(x.end.Sub(x.wrote))
		}
	}
	if !x.firstByte.IsZero() {
		t.Receiving = ms(x.end.Sub(x.firstByte))
	}
	t.Duration = t.Sending + t.Waiting + t.Receiving
	return t
}

// maxReusedBuf bounds the buffer DoInto reads the next response into: a
// large body's is let go rather than held by the caller's Response.
const maxReusedBuf = 16 << 10

// roundTrip makes one hop on the fast path or through net/http, writes
// its response into r (reading into r's buffer) and emits its samples.
func (c *Client) roundTrip(ctx context.Context, h *hop, r *Response) error {
	var x exchange
	if cap(r.buf) <= maxReusedBuf {
		x.buf = r.buf[:0]
	}
	x.start = h.start
	if x.start.IsZero() {
		x.start = time.Now()
	}
	hi := scanHeader(h.req.Header)
	if c.fastOK(h, &hi) {
		c.fast(ctx, h, &hi, &x)
		if x.err == errHTTP2 {
			c.markHTTP2(h.t)
			x.err = nil
			c.std(ctx, h, &x)
		}
	} else {
		c.std(ctx, h, &x)
	}
	if x.err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if x.end.IsZero() {
		x.end = time.Now()
	}
	c.finish(h, &x, r)
	return nil
}

// finish writes an exchange into r and emits the hop's samples.
func (c *Client) finish(h *hop, x *exchange, r *Response) {
	*r = Response{URL: h.t.str, Request: h.req, Timings: x.timings(), RemoteIP: x.ip, RemotePort: x.port,
		userAgent: c.s.userAgent, cookie: x.cookie, buf: x.buf}
	if x.err != nil {
		r.ErrorCode, r.Error = classify(x.err)
	} else {
		r.Status, r.StatusText, r.Proto = x.status, x.statusText, x.proto
		r.Body, r.header, r.rawHeader = x.body, x.header, x.rawHeader
		r.TLSVersion, r.TLSCipherSuite = x.tlsVersion, x.cipher
		if r.Status >= 400 {
			r.ErrorCode = 1000 + r.Status
		}
	}
	expected := c.expectation(h.req, r.Status)
	if h.digest && expected == 0 && r.digestChallenge() != nil {
		expected = 1 // the challenge of digest auth
	}
	if c.emit != nil {
		c.emitSamples(h.req.Metadata, x.end, &r.Timings, c.tagsFor(h, x, r, expected), expected)
	}
}

// expectation returns -1 when expected statuses are disabled, else 1 for
// an expected status and 0 for another.
func (c *Client) expectation(req *Request, status int) int8 {
	e := req.ExpectedStatuses
	if e == nil {
		e = c.s.expected
	}
	var ok bool
	switch {
	case e == nil:
		ok = status >= 200 && status <= 399
	case len(e) == 0:
		return -1
	default:
		ok = e.Expected(status)
	}
	if ok {
		return 1
	}
	return 0
}

func (c *Client) emitSamples(md map[string]string, end time.Time, tm *Timings, tags metrics.Tags, expected int8) {
	s := append(c.batch[:0],
		metrics.Sample{Metric: c.m[0], Time: end, Value: 1, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[1], Time: end, Value: tm.Duration, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[2], Time: end, Value: tm.Blocked, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[3], Time: end, Value: tm.Connecting, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[4], Time: end, Value: tm.TLSHandshaking, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[5], Time: end, Value: tm.Sending, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[6], Time: end, Value: tm.Waiting, Tags: tags, Metadata: md},
		metrics.Sample{Metric: c.m[7], Time: end, Value: tm.Receiving, Tags: tags, Metadata: md},
	)
	if expected >= 0 {
		s = append(s, metrics.Sample{Metric: c.m[8], Time: end, Value: float64(1 - expected), Tags: tags, Metadata: md})
	}
	c.batch = s
	c.emit(s)
}

// tagKey identifies a hop's tag set: the VU's and the request's tags (by
// hash, checked on use) and the system tag values.
type tagKey struct {
	vu, req  uint64
	method   string
	url      string
	proto    string
	errMsg   string
	tls      string
	ip       string
	status   int
	errCode  int
	expected int8
}

type tagEntry struct{ vu, req, tags metrics.Tags }

// tagsFor returns the hop's tags from the cache, building them once per
// distinct key, so that a steady request makes no tag set.
func (c *Client) tagsFor(h *hop, x *exchange, r *Response, expected int8) metrics.Tags {
	k := tagKey{vu: h.req.VUTags.Hash(), req: h.req.Tags.Hash(), method: h.method, url: h.t.clean,
		status: r.Status, errCode: r.ErrorCode, errMsg: r.Error, expected: expected}
	if x.err == nil {
		k.proto, k.tls = x.proto, x.tlsVersion
	}
	if c.s.on(tagIP) {
		k.ip = x.ip
	}
	if c.hasLast && k == c.lastKey && c.last.vu.Equal(h.req.VUTags) && c.last.req.Equal(h.req.Tags) {
		return c.last.tags
	}
	e, ok := c.tags[k]
	if !ok || !e.vu.Equal(h.req.VUTags) || !e.req.Equal(h.req.Tags) {
		e = tagEntry{vu: h.req.VUTags, req: h.req.Tags, tags: c.buildTags(h, &k)}
		switch {
		case c.tags == nil && !c.hasLast: // the first: last is cache enough
		case c.tags == nil:
			c.tags = map[tagKey]tagEntry{c.lastKey: c.last, k: e}
		default:
			if len(c.tags) >= maxCached {
				clear(c.tags)
			}
			c.tags[k] = e
		}
	}
	c.lastKey, c.last, c.hasLast = k, e, true
	return e.tags
}

// buildTags applies k6's rules: VU tags, then request tags, then the
// enabled system tags. A user "name" tag also becomes the url tag.
func (c *Client) buildTags(h *hop, k *tagKey) metrics.Tags {
	base := h.req.VUTags.Merge(h.req.Tags)
	kv := make([]string, 0, 24)
	set := func(b tagBits, key, value string) {
		if c.s.on(b) {
			kv = append(kv, key, value)
		}
	}
	url, errMsg := k.url, k.errMsg
	if c.s.redactURLs {
		url, errMsg = redact.URL(url), redact.Text(errMsg)
		if name, ok := base.Get("name"); ok {
			base = base.With("name", redact.URL(name))
		}
	}
	if name, ok := base.Get("name"); ok {
		set(tagURL, "url", name)
	} else {
		set(tagName, "name", url)
		set(tagURL, "url", url)
	}
	set(tagMethod, "method", k.method)
	if errMsg != "" {
		set(tagError, "error", errMsg)
		set(tagErrorCode, "error_code", strconv.Itoa(k.errCode))
		set(tagStatus, "status", "0")
	} else {
		set(tagStatus, "status", strconv.Itoa(k.status))
		if k.errCode != 0 {
			set(tagErrorCode, "error_code", strconv.Itoa(k.errCode))
		}
		set(tagProto, "proto", k.proto)
		if k.tls != "" {
			set(tagTLSVersion, "tls_version", k.tls)
		}
	}
	if k.ip != "" {
		set(tagIP, "ip", k.ip)
	}
	if k.expected >= 0 {
		set(tagExpectedResponse, "expected_response", strconv.FormatBool(k.expected == 1))
	}
	return base.Merge(metrics.NewTags(kv...))
}

// watch arranges for ctx's end to interrupt a fast-path request in
// flight. It registers once per distinct context, not per request.
func (c *Client) watch(ctx context.Context) {
	done := ctx.Done()
	if done == c.watchDone {
		return
	}
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	c.activeMu.Lock()
	c.watchDone = done
	c.activeMu.Unlock()
	if done != nil {
		c.stopWatch = context.AfterFunc(ctx, func() { c.interrupt(done) })
	}
}

// interrupt unblocks the fast-path request in flight, if it belongs to the
// context whose done channel is done.
func (c *Client) interrupt(done <-chan struct{}) {
	c.activeMu.Lock()
	defer c.activeMu.Unlock()
	if c.watchDone == done && c.active != nil {
		_ = c.active.nc.SetDeadline(time.Unix(1, 0))
	}
}

func (c *Client) setActive(fc *fconn) {
	c.activeMu.Lock()
	c.active = fc
	c.activeMu.Unlock()
}

// decode undoes the Content-Encodings the client knows (gzip, deflate,
// br, zstd), as k6 does. Its decoders are the client's, reused from one
// response to the next.
func (c *Client) decode(enc encoding, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return body, nil
	}
	var r io.Reader
	switch enc {
	case encGzip:
		if c.gz == nil {
			gz, err := gzip.NewReader(bytesReader(body))
			if err != nil {
				return nil, decompressionError(err)
			}
			c.gz = gz
		} else if err := c.gz.Reset(bytesReader(body)); err != nil {
			return nil, decompressionError(err)
		}
		r = c.gz
	case encDeflate:
		fr := flate.NewReader(zlibOrRaw(body))
		defer fr.Close()
		r = fr
	case encBrotli:
		if c.brotli == nil {
			c.brotli = brotli.NewReader(bytesReader(body))
		} else {
			_ = c.brotli.Reset(bytesReader(body)) // never fails
		}
		r = c.brotli
	case encZstd:
		return c.unzstd(body)
	default:
		return body, nil
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, decompressionError(err)
	}
	return out, nil
}

func decompressionError(err error) error {
	return &codedError{code: CodeDecompression, msg: fmt.Sprintf("error decompressing response body (%v)", err), err: err}
}

func encodingOf(v string) encoding {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "identity":
		return encIdentity
	case "gzip", "x-gzip":
		return encGzip
	case "deflate":
		return encDeflate
	case "br":
		return encBrotli
	case "zstd":
		return encZstd
	}
	return encOther
}
