package service

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// The per-address share counts an IPv6 client's /64 as one address (one
// host commonly has a whole /64) and an IPv4 one, mapped or not, by its IP.
func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"2001:db8:1:2:aaaa::1": "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb::9": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"192.0.2.7":            "192.0.2.7",
	} {
		c := addrConn{remote: &net.TCPAddr{IP: net.ParseIP(addr), Port: 4242}}
		assert.Equal(t, want, clientKey(c), addr)
	}
}
