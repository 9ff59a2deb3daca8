package k6http

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// transport returns the client's net/http transport, made on first use:
// one per client, as k6 has one per VU.
func (c *Client) transport() *http.Transport {
	if c.tr != nil {
		return c.tr
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	c.tr = &http.Transport{
		Proxy: c.s.proxy,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dialStd(ctx, d, network, addr)
		},
		// TLS on the client's own dial: the transport shakes hands (and
		// traces it) on what this returns, which lets a connection the
		// fast path opened to an HTTP/2 server carry on here.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if ho, ok := ctx.Value(handoffKey{}).(*handoff); ok && ho.addr == addr && ho.used.CompareAndSwap(false, true) {
				return ho.conn, nil
			}
			conn, err := c.dialStd(ctx, d, network, addr)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			return tls.Client(conn, c.tlsConfig(host)), nil
		},
		TLSClientConfig:        c.s.tlsConfig.Clone(),
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		DisableKeepAlives:      c.s.noReuse,
		MaxIdleConnsPerHost:    maxIdle,
		IdleConnTimeout:        idleTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		ExpectContinueTimeout:  time.Second,
	}
	return c.tr
}

// dialStd dials for net/http through the client's DNS cache, reporting
// the lookup to httptrace, and counts the connection's bytes.
func (c *Client) dialStd(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		trace := httptrace.ContextClientTrace(ctx)
		if trace != nil && trace.DNSStart != nil {
			trace.DNSStart(httptrace.DNSStartInfo{Host: host})
		}
		ip, err = c.resolve(ctx, host)
		if trace != nil && trace.DNSDone != nil {
			trace.DNSDone(httptrace.DNSDoneInfo{Err: err})
		}
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		addr = net.JoinHostPort(ip.String(), port)
	}
	if err := c.checkIP(ip); err != nil {
		return nil, err
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: conn, c: c}, nil
}

// handoff is a connection the fast path dialled to a server that chose
// HTTP/2 in the TLS handshake: the request's net/http hop uses it rather
// than dial and shake hands again, as k6 (one transport) would.
type handoff struct {
	addr string // host:port as the transport asks for it
	conn *tls.Conn
	used atomic.Bool
}

type handoffKey struct{}

// stdTrace records httptrace events. The transport may call it from its
// own goroutines, even after RoundTrip returned, hence the lock.
type stdTrace struct {
	mu                                     sync.Mutex
	getConn, dnsStart, dnsDone             time.Time
	connStart, connDone, tlsStart, tlsDone time.Time
	gotConn, wrote, firstByte              time.Time
	remote                                 net.Addr
}

func (st *stdTrace) now(f *time.Time, first bool) {
	t := time.Now()
	st.mu.Lock()
	if !first || f.IsZero() {
		*f = t
	}
	st.mu.Unlock()
}

func (st *stdTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn:      func(string) { st.now(&st.getConn, true) },
		DNSStart:     func(httptrace.DNSStartInfo) { st.now(&st.dnsStart, true) },
		DNSDone:      func(httptrace.DNSDoneInfo) { st.now(&st.dnsDone, true) },
		ConnectStart: func(string, string) { st.now(&st.connStart, true) },
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				st.now(&st.connDone, true)
			}
		},
		TLSHandshakeStart: func() { st.now(&st.tlsStart, true) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				st.now(&st.tlsDone, true)
			}
		},
		GotConn: func(info httptrace.GotConnInfo) {
			t := time.Now()
			st.mu.Lock()
			defer st.mu.Unlock()
			st.gotConn = t
			st.remote = info.Conn.RemoteAddr()
			if info.Reused { // an abandoned dial may have left marks
				st.dnsStart, st.dnsDone, st.connStart, st.connDone = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				st.tlsStart, st.tlsDone = time.Time{}, time.Time{}
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				st.now(&st.wrote, false)
			}
		},
		GotFirstResponseByte: func() { st.now(&st.firstByte, true) },
	}
}

// copyTo moves the marks into x. A connection handed off by the fast
// path keeps the fast path's marks of its dial and handshake.
func (st *stdTrace) copyTo(x *exchange) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if x.handoff == nil || !x.handoff.used.Load() || !st.connStart.IsZero() {
		if !st.getConn.IsZero() {
			x.start = st.getConn
		}
		x.dnsStart, x.dnsDone, x.connStart, x.connDone = st.dnsStart, st.dnsDone, st.connStart, st.connDone
		x.tlsStart, x.tlsDone = st.tlsStart, st.tlsDone
	}
	x.gotConn, x.wrote, x.firstByte = st.gotConn, st.wrote, st.firstByte
	if tcp, ok := st.remote.(*net.TCPAddr); ok {
		x.ip, x.port = tcp.IP.String(), tcp.Port
	}
}

// std makes one hop through net/http, with the same request bytes as the
// fast path would send.
func (c *Client) std(ctx context.Context, h *hop, x *exchange) {
	rctx, cancel := context.WithDeadline(ctx, h.deadline)
	defer cancel()
	st := &stdTrace{}
	rctx = httptrace.WithClientTrace(rctx, st.clientTrace())
	ho := x.handoff
	if ho != nil {
		rctx = context.WithValue(rctx, handoffKey{}, ho)
		defer func() {
			if ho.used.CompareAndSwap(false, true) { // the transport had a connection already
				_ = ho.conn.Close()
			}
		}()
	}

	hi := scanHeader(h.req.Header)
	hreq := &http.Request{
		Method: h.method, URL: h.t.u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(h.req.Header)+2), Host: h.t.host,
	}
	for k, vs := range h.req.Header {
		if !skipHeader(k) {
			hreq.Header[k] = vs
		}
	}
	if hi.host != "" {
		hreq.Host = hi.host
	}
	if hi.hasUA {
		hreq.Header["User-Agent"] = []string{hi.ua}
	} else {
		hreq.Header["User-Agent"] = []string{c.s.userAgent}
	}
	if cookie := c.cookieHeader(h, hi.cookie); cookie != "" {
		hreq.Header["Cookie"] = []string{cookie}
		x.cookie = cookie
	}
	switch {
	case h.req.Body != nil:
		body := h.req.Body
		hreq.ContentLength = int64(len(body))
		hreq.Body = io.NopCloser(bytes.NewReader(body))
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if len(body) == 0 {
			hreq.Body, hreq.GetBody = http.NoBody, nil
		}
	case h.req.BodyReader != nil:
		hreq.ContentLength = -1
		hreq.Body = io.NopCloser(h.req.BodyReader)
	}
	hreq = hreq.WithContext(rctx)
	if c.s.debug != nil {
		c.s.debug(h.req, c.dumpRequest(h.req, hreq))
	}

	resp, err := c.transport().RoundTrip(hreq)
	if err != nil {
		x.err, x.end = err, time.Now()
		st.copyTo(x)
		return
	}
	if c.s.debug != nil {
		if err := c.dumpResponse(h.req, resp); err != nil {
			_ = resp.Body.Close()
			x.err, x.end = err, time.Now()
			st.copyTo(x)
			return
		}
	}
	var body []byte
	if h.keep {
		body, err = io.ReadAll(resp.Body)
		if err == nil && len(body) > 0 {
			body, err = c.decode(encodingOf(resp.Header.Get("Content-Encoding")), body)
		}
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	_ = resp.Body.Close()
	x.end = time.Now()
	st.copyTo(x)
	if err != nil {
		x.err = err
		return
	}
	if len(body) > 0 {
		x.body = body
	}
	x.status, x.statusText, x.proto, x.header = resp.StatusCode, resp.Status, resp.Proto, resp.Header
	if resp.TLS != nil {
		x.tlsVersion = tlsVersionName(resp.TLS.Version)
		x.cipher = tls.CipherSuiteName(resp.TLS.CipherSuite)
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
		c.storeCookies(h, sc)
	}
}
