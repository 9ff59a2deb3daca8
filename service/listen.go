package service

import (
	"net"
	"net/http"
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
// last as long as a test. Pair it with [LimitListener].
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}

// LimitListener returns a listener that keeps at most perIP connections
// from one client address and at most total in all: a connection over
// either is closed as soon as it is accepted, so that idle clients cannot
// take every file descriptor of the agent (and /healthz stays reachable).
// A limit <= 0 means no limit.
func LimitListener(ln net.Listener, perIP, total int) net.Listener {
	return &limitListener{Listener: ln, perIP: perIP, total: total, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	perIP, total int

	mu    sync.Mutex
	open  map[string]int // connections by client IP
	count int
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c)
		if l.acquire(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		_ = c.Close()
	}
}

func (l *limitListener) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.perIP > 0 && l.open[ip] >= l.perIP) || (l.total > 0 && l.count >= l.total) {
		return false
	}
	l.open[ip]++
	l.count++
	return true
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	l.count--
}

func clientIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
