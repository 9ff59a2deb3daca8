package k6http

import (
	"context"
	"crypto/tls"
	"net"
)

// DialContext opens a connection the way the client's requests do, for
// the VU's other protocols (WebSocket, gRPC): through the client's DNS
// cache (IPv4 first), refused before dialling when Options.AllowIP says
// no (an error with k6's code 1110), and counted in [Client.TakeIO]. It is
// safe for concurrent use.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.dialStd(ctx, &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}, network, addr)
}

// TLSConfig returns a copy of the client's TLS configuration (versions,
// cipher suites, client certificates, InsecureSkipTLSVerify) for the VU's
// other protocols; the caller sets ServerName and NextProtos.
func (c *Client) TLSConfig() *tls.Config { return c.s.tlsConfig.Clone() }
