package service

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Timeouts of the agent's HTTP server; see [Server.HTTPServer].
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// HTTPServer returns an http.Server for the agent's handler with the
// bounds a hostile client calls for: headers within ReadHeaderTimeout,
// the whole request (an upload of MaxUploadBytes included) within
// ReadTimeout, idle keep-alive connections closed after IdleTimeout,
// headers of at most MaxHeaderBytes. It sets no WriteTimeout: SSE streams
// last as long as a test. Serve it on a [LimitListener].
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}

// LimitListener returns a listener that keeps at most perIP connections
// from one client address (an IPv6 client's /64 counting as one address)
// and at most total in all, so that idle clients cannot take every file
// descriptor of the agent. A connection over its address's share is closed
// as soon as it is accepted. A connection over the total takes the place of
// the connection that has waited longest without a request in flight (one
// that never finished its headers, or an idle keep-alive one), so that
// clients spread over many addresses cannot hold every place either and
// /healthz and the tenants stay reachable; LimitListener sets
// hs.ConnState, chained to any it had, to know which connections serve a
// request, and never closes those. Only when every place serves a request
// is a new connection closed. A limit <= 0 means no limit.
func LimitListener(ln net.Listener, perIP, total int, hs *http.Server) net.Listener {
	l := &limitListener{Listener: ln, perIP: perIP, total: total, open: map[string]int{}, conns: map[*limitedConn]struct{}{}}
	next := hs.ConnState
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		l.track(c, st)
		if next != nil {
			next(c, st)
		}
	}
	return l
}

type limitListener struct {
	net.Listener
	perIP, total int

	mu    sync.Mutex
	open  map[string]int // connections by client address
	conns map[*limitedConn]struct{}
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, evicted := l.admit(c)
		if evicted != nil {
			_ = evicted.Conn.Close()
		}
		if lc != nil {
			return lc, nil
		}
		_ = c.Close()
	}
}

// admit counts c in, or returns nil when it is over a limit; evicted is
// the connection it replaces, already counted out, for the caller to close.
func (l *limitListener) admit(c net.Conn) (admitted, evicted *limitedConn) {
	key := clientKey(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP > 0 && l.open[key] >= l.perIP {
		return nil, nil
	}
	if l.total > 0 && len(l.conns) >= l.total {
		if evicted = l.longestWaitingLocked(); evicted == nil {
			return nil, nil
		}
		evicted.once.Do(func() { l.forgetLocked(evicted) })
	}
	lc := &limitedConn{Conn: c, l: l, key: key, state: http.StateNew, since: time.Now()}
	l.open[key]++
	l.conns[lc] = struct{}{}
	return lc, evicted
}

// longestWaitingLocked is the connection without a request in flight that
// has waited longest, or nil when every connection serves one.
func (l *limitListener) longestWaitingLocked() *limitedConn {
	var oldest *limitedConn
	for c := range l.conns {
		if (c.state == http.StateNew || c.state == http.StateIdle) && (oldest == nil || c.since.Before(oldest.since)) {
			oldest = c
		}
	}
	return oldest
}

func (l *limitListener) forgetLocked(c *limitedConn) {
	if l.open[c.key]--; l.open[c.key] <= 0 {
		delete(l.open, c.key)
	}
	delete(l.conns, c)
}

// track follows the server's view of a connection (TLS ones included).
func (l *limitListener) track(c net.Conn, st http.ConnState) {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lc.state, lc.since = st, time.Now()
}

// clientKey is what the per-address share counts: the client's IP, or for
// IPv6 its /64, which one host commonly has whole.
func clientKey(c net.Conn) string {
	var ip netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(a.IP)
	} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		ip = ap.Addr()
	} else {
		return c.RemoteAddr().String()
	}
	if ip = ip.Unmap(); ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// limitedConn gives its place back once, when closed or replaced.
type limitedConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
	// guarded by l.mu
	state http.ConnState
	since time.Time // when it came to state
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		c.l.forgetLocked(c)
	})
	return err
}
