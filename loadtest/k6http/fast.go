package k6http

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Connection settings, as k6's dialer and Go's transport have them.
const (
	dialTimeout = 30 * time.Second
	keepAlive   = 30 * time.Second
	idleTimeout = 90 * time.Second
	dnsTTL      = 5 * time.Minute // k6's default dns ttl
	maxIdle     = 16              // idle connections kept per client
	// checkIdle is how long a connection may sit idle before it is
	// checked, when taken, for a close by the server. A VU that requests
	// back to back never pays for the check; one that thinks does, once.
	checkIdle = 5 * time.Millisecond
)

// errHTTP2 means the server chose HTTP/2 in the TLS handshake: the hop is
// redone through net/http, which speaks it.
var errHTTP2 = errors.New("k6http: server negotiated h2")

// fconn is a fast-path connection.
type fconn struct {
	nc         net.Conn // what requests are written to: the counted TCP conn or TLS over it
	raw        net.Conn // the TCP connection
	key        string
	ip         string
	port       int
	tlsVersion string
	cipher     string
	idleAt     time.Time
	snd        *sender // writes requests on plain TCP; nil over TLS
}

func (fc *fconn) close() { _ = fc.nc.Close() }

// countedConn counts the bytes that cross the network for TakeIO.
type countedConn struct {
	net.Conn
	c *Client
}

func (cc *countedConn) Read(b []byte) (int, error) {
	n, err := cc.Conn.Read(b)
	if n > 0 {
		cc.c.received.Add(int64(n))
	}
	return n, err
}

// Write counts the bytes before they reach the network: net/http writes a
// request on its own goroutine and may hand back the response before that
// goroutine runs again, so a count added after the write could come after
// TakeIO. A short write takes back what was not sent.
func (cc *countedConn) Write(b []byte) (int, error) {
	cc.c.sent.Add(int64(len(b)))
	n, err := cc.Conn.Write(b)
	if n < len(b) {
		cc.c.sent.Add(int64(n - len(b)))
	}
	return n, err
}

type dnsEntry struct {
	ip      netip.Addr
	expires time.Time
}

// fastOK reports whether the fast path can carry the hop.
func (c *Client) fastOK(h *hop, hi *headerInfo) bool {
	if c.s.noFast || !h.t.fast || hi.unusual || h.req.BodyReader != nil && h.req.Body == nil {
		return false
	}
	if len(c.h2) > 0 && c.h2[h.t.key] {
		return false
	}
	return h.method == http.MethodGet || validMethod(h.method) && h.method != http.MethodConnect
}

func (c *Client) markHTTP2(t *target) { c.markHTTP2Key(t.key) }

func (c *Client) markHTTP2Key(key string) {
	if c.h2 == nil {
		c.h2 = make(map[string]bool)
	}
	c.h2[key] = true
}

// replayable reports whether a request may be sent again after a reused
// connection failed before answering, by net/http's rule.
func replayable(method string, hi *headerInfo) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return hi.idempoKey
}

// wire is what a hop on the fast path reads and writes with: a 4 KB
// reader, the request's bytes and a parser. Clients take one from wires for a hop and put it
// back when the hop ends, so that VUs that think between requests (the
// common case, and the one with thousands of VUs) share a few instead of
// keeping one each. A connection is kept only when the reader holds
// nothing of it past the response, so a wire carries no state from one
// hop to the next.
type wire struct {
	br  *bufio.Reader
	out []byte // the request: head, and the body when it is small
	p   *parser
}

// Bodies up to inlineBody go out in one write with the head; a wire
// keeps a request buffer of up to keptOut bytes for the next hop.
const (
	inlineBody = 16 << 10
	keptOut    = 64 << 10
)

// wires is the process's pool of wires: like net/http's pools of bufio
// readers and writers, it is shared by every client, and it empties itself
// when the garbage collector runs.
var wires = sync.Pool{New: func() any {
	return &wire{br: bufio.NewReaderSize(nil, 4096), out: make([]byte, 0, 512),
		p: newParser(limits{header: maxHeaderBytes, chunkLine: maxChunkLine})}
}}

// release puts the wire back into the pool, holding no connection.
func (w *wire) release() {
	w.br.Reset(nil)
	if cap(w.out) > keptOut {
		w.out = make([]byte, 0, 512)
	}
	wires.Put(w)
}

// fast makes one hop on the client's own HTTP/1.1 path.
func (c *Client) fast(ctx context.Context, h *hop, hi *headerInfo, x *exchange) {
	w := wires.Get().(*wire)
	defer w.release()
	cookie := c.cookieHeader(h, hi.cookie)
	x.cookie = cookie
	for attempt := 0; ; attempt++ {
		fc, reused, checked, err := c.getConn(ctx, h, x)
		if err != nil {
			x.err, x.end = err, time.Now()
			return
		}
		if reused && !checked && attempt == 0 {
			x.gotConn = x.start // taken from the pool: nothing worth a clock reading
		} else {
			x.gotConn = time.Now()
		}
		x.ip, x.port, x.tlsVersion, x.cipher = fc.ip, fc.port, fc.tlsVersion, fc.cipher
		c.setActive(fc)
		err = fc.nc.SetDeadline(h.deadline)
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = c.writeRequest(w, fc, h, hi, cookie, x)
		}
		if err == nil {
			w.br.Reset(fc.nc)
			_, err = w.br.Peek(1)
		}
		if err != nil {
			c.setActive(nil)
			fc.close()
			if reused && attempt == 0 && replayable(h.method, hi) && ctx.Err() == nil && !isTimeout(err) {
				x.dnsStart, x.dnsDone, x.connStart, x.connDone, x.tlsStart, x.tlsDone = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
				x.gotConn, x.wrote = time.Time{}, time.Time{}
				continue
			}
			x.err, x.end = err, time.Now()
			return
		}
		x.firstByte = time.Now()
		c.read(w, h, hi, fc, x)
		return
	}
}

// read reads the response head and body of a hop whose first byte has
// arrived, then keeps or closes the connection.
func (c *Client) read(w *wire, h *hop, hi *headerInfo, fc *fconn, x *exchange) {
	var hd head
	err := w.p.readHead(w.br, h.method, &hd)
	var buf []byte
	if err == nil {
		n := len(w.p.hdr)
		size := n
		if h.keep {
			switch {
			case hd.framing == bodyLength && hd.contentLength <= 1<<20:
				size += int(hd.contentLength)
			case hd.framing != bodyNone && hd.framing != bodyLength:
				size += 512
			}
		}
		buf = x.buf[:0]
		if cap(buf) < size {
			buf = make([]byte, 0, size)
		}
		buf = append(buf, w.p.hdr...)
		buf, err = w.p.readBody(w.br, &hd, buf, h.keep)
		x.buf = buf
		x.rawHeader = buf[:n:n]
		if body := buf[n:]; len(body) > 0 {
			x.body = body
		}
	}
	if err == nil && h.keep && hd.encoding != encIdentity && hd.encoding != encOther {
		x.body, err = c.decode(hd.encoding, x.body)
	}
	x.end = time.Now()
	c.setActive(nil)
	if err != nil {
		fc.close()
		x.err = err
		return
	}
	if hd.close || c.s.noReuse || hi.close || w.br.Buffered() > 0 {
		fc.close()
	} else {
		c.putIdle(fc, x.end)
	}
	x.status, x.proto = hd.status, hd.proto
	x.statusText = c.intern(hd.text)
	if hd.setCookie {
		c.storeCookies(h, rawValues(x.rawHeader, "Set-Cookie"))
	}
}

// intern returns b as a string, shared for the status texts seen before:
// the last one is compared first, and the map is made for a second text
// (pprof at 2 000 VUs: the map lookup was 2 % of the generator's CPU).
func (c *Client) intern(b []byte) string {
	if string(b) == c.lastText && c.lastText != "" {
		return c.lastText
	}
	s, ok := c.texts[string(b)]
	if !ok {
		s = string(b)
		switch {
		case c.lastText == "": // the first: last is cache enough
		case c.texts == nil:
			c.texts = map[string]string{c.lastText: c.lastText, s: s}
		case len(c.texts) < 64:
			c.texts[s] = s
		}
	}
	c.lastText = s
	return s
}

func rawValues(raw []byte, key string) []string {
	var vs []string
	for k, v := range eachHeader(raw) {
		if len(k) == len(key) && asciiEqualFold([]byte(k), key) {
			vs = append(vs, v)
		}
	}
	return vs
}

// writeRequest writes the request to the connection and marks when it
// was written: head and small body in one write, through the connection's
// sender when it has one, a large body in a second write.
func (c *Client) writeRequest(w *wire, fc *fconn, h *hop, hi *headerInfo, cookie string, x *exchange) error {
	w.out = c.appendHead(w.out[:0], h, hi, cookie)
	body := h.req.Body
	if len(body) <= inlineBody {
		w.out = append(w.out, body...)
		body = nil
	}
	var n int
	if fc.snd != nil && body == nil {
		n, x.wrote = fc.snd.send(w.out)
		if n > 0 {
			c.sent.Add(int64(n))
		}
	}
	if n < len(w.out) {
		if _, err := fc.nc.Write(w.out[n:]); err != nil {
			return err
		}
		if len(body) > 0 {
			if _, err := fc.nc.Write(body); err != nil {
				return err
			}
		}
		x.wrote = time.Now()
	}
	return nil
}

// appendHead appends the request head to b, as net/http writes it:
// request line, Host, User-Agent, Content-Length (always for POST, PUT
// and PATCH), the caller's headers, Cookie, Connection: close when
// connections are not reused.
func (c *Client) appendHead(b []byte, h *hop, hi *headerInfo, cookie string) []byte {
	b = append(b, h.method...)
	b = append(b, ' ')
	b = append(b, h.t.requestURI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if hi.host != "" {
		b = append(b, hi.host...)
	} else {
		b = append(b, h.t.host...)
	}
	b = append(b, "\r\n"...)
	ua := c.s.userAgent
	if hi.hasUA {
		ua = hi.ua
	}
	if ua != "" {
		b = append(b, "User-Agent: "...)
		b = append(b, ua...)
		b = append(b, "\r\n"...)
	}
	if n := len(h.req.Body); n > 0 || h.method == http.MethodPost || h.method == http.MethodPut || h.method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, "\r\n"...)
	}
	for k, vs := range h.req.Header {
		if skipHeader(k) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if cookie != "" {
		b = append(b, "Cookie: "...)
		b = append(b, cookie...)
		b = append(b, "\r\n"...)
	}
	if c.s.noReuse && !hi.close {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// getConn returns an idle connection to the hop's host, and whether it
// was checked for a close by the server, or dials one.
func (c *Client) getConn(ctx context.Context, h *hop, x *exchange) (fc *fconn, reused, checked bool, err error) {
	for i := len(c.idle) - 1; i >= 0; i-- {
		fc := c.idle[i]
		if fc.key != h.t.key {
			continue
		}
		c.idle = slices.Delete(c.idle, i, i+1)
		if check, ok := c.usable(fc, x.start); ok {
			return fc, true, check, nil
		}
	}
	for c.lent != nil {
		fc := c.lent.take(h.t.key)
		if fc == nil {
			break
		}
		if check, ok := c.usable(fc, x.start); ok {
			return fc, true, check, nil
		}
	}
	fc, err = c.dial(ctx, h, x)
	return fc, false, false, err
}

// usable reports whether an idle connection may carry a request at now,
// closing it when not, and whether it had to be checked.
func (c *Client) usable(fc *fconn, now time.Time) (checked, ok bool) {
	idle := now.Sub(fc.idleAt)
	check := idle > c.checkIdle
	if idle > idleTimeout || check && !connAlive(fc.raw) {
		fc.close()
		return check, false
	}
	return check, true
}

func (c *Client) putIdle(fc *fconn, now time.Time) {
	fc.idleAt = now
	if len(c.idle) >= maxIdle {
		c.idle[0].close()
		c.idle = slices.Delete(c.idle, 0, 1)
	}
	c.idle = append(c.idle, fc)
}

// dial opens a connection for the hop, marking DNS, connect and TLS
// times.
func (c *Client) dial(ctx context.Context, h *hop, x *exchange) (*fconn, error) {
	ip := h.t.ip
	if !ip.IsValid() {
		x.dnsStart = time.Now()
		var err error
		if ip, err = c.resolve(ctx, h.t.hostname); err != nil {
			return nil, err
		}
		x.dnsDone = time.Now()
	}
	if err := c.checkIP(ip); err != nil {
		return nil, err
	}
	addr := netip.AddrPortFrom(ip, h.t.port)
	d := net.Dialer{Timeout: dialTimeout, Deadline: h.deadline, KeepAlive: keepAlive}
	x.connStart = time.Now()
	raw, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	x.connDone = time.Now()
	fc := &fconn{nc: &countedConn{Conn: raw, c: c}, raw: raw, key: h.t.key, ip: ip.String(), port: int(h.t.port)}
	if !h.t.https {
		fc.snd = newSender(raw)
		return fc, nil
	}
	tc := tls.Client(fc.nc, c.tlsConfig(h.t.hostname))
	x.tlsStart = time.Now()
	_ = raw.SetDeadline(h.deadline)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	x.tlsDone = time.Now()
	st := tc.ConnectionState()
	if st.NegotiatedProtocol == "h2" {
		x.handoff = &handoff{addr: net.JoinHostPort(h.t.hostname, strconv.Itoa(int(h.t.port))), conn: tc}
		return nil, errHTTP2
	}
	fc.nc = tc
	fc.tlsVersion = tlsVersionName(st.Version)
	fc.cipher = tls.CipherSuiteName(st.CipherSuite)
	return fc, nil
}

// tlsConfig returns the client's TLS configuration for a server name,
// offering HTTP/2 as net/http does so that servers answer as they would
// answer k6.
func (c *Client) tlsConfig(serverName string) *tls.Config {
	c.tlsMu.Lock()
	defer c.tlsMu.Unlock()
	if conf, ok := c.tlsConf[serverName]; ok {
		return conf
	}
	conf := c.s.tlsConfig.Clone()
	if conf.ServerName == "" {
		conf.ServerName = serverName
	}
	if len(conf.NextProtos) == 0 {
		conf.NextProtos = []string{"h2", "http/1.1"}
	}
	if len(c.tlsConf) >= maxIdle {
		clear(c.tlsConf)
	}
	if c.tlsConf == nil {
		c.tlsConf = make(map[string]*tls.Config, 1)
	}
	c.tlsConf[serverName] = conf
	return conf
}

// tlsVersionName returns k6's name of a TLS version ("tls1.3").
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "tls1.0"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	}
	return "tls0x" + strconv.FormatUint(uint64(v), 16)
}

// resolve returns an address of host, preferring IPv4 as k6 does, cached
// for k6's default TTL. It is safe for concurrent use (net/http dials in
// its own goroutines).
func (c *Client) resolve(ctx context.Context, host string) (netip.Addr, error) {
	now := time.Now()
	c.dnsMu.Lock()
	e, ok := c.dns[host]
	c.dnsMu.Unlock()
	if ok && now.Before(e.expires) {
		return e.ip, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ip := ips[0]
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a
			break
		}
	}
	ip = ip.Unmap()
	c.dnsMu.Lock()
	if len(c.dns) >= maxCached {
		clear(c.dns)
	}
	if c.dns == nil {
		c.dns = make(map[string]dnsEntry, 1)
	}
	c.dns[host] = dnsEntry{ip: ip, expires: now.Add(dnsTTL)}
	c.dnsMu.Unlock()
	return ip, nil
}
