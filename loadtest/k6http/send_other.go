//go:build !unix

package k6http

import (
	"net"
	"time"
)

// sender is unix-only: elsewhere requests go through net.Conn.
type sender struct{}

func newSender(net.Conn) *sender { return nil }

func (*sender) send([]byte) (int, time.Time) { return 0, time.Time{} }
