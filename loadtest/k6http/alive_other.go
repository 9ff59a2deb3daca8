//go:build !unix

package k6http

import "net"

// connAlive cannot peek without blocking here: idle connections are
// assumed alive, and a request that finds one closed is retried when it
// may be.
func connAlive(net.Conn) bool { return true }
