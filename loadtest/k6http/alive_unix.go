//go:build unix

package k6http

import (
	"net"
	"syscall"
)

// connAlive peeks at an idle connection without blocking: a connection
// the server closed (EOF), reset, or sent unsolicited bytes on is not
// reused. net/http learns the same from a goroutine that reads every idle
// connection; one syscall when a connection is taken is cheaper.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}
