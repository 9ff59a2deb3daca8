//go:build unix

package k6http

import (
	"net"
	"syscall"
	"time"
)

// sender writes a request straight to a plain TCP socket and then waits
// for the answer without reading. net.Conn's Write then Read reads once
// before the server has answered, gets EAGAIN and only then waits: one
// system call per request for nothing, and on loopback system calls are
// most of what a request costs (wrk makes no such read). The wait is armed
// before the write, so the readiness the answer brings cannot be missed.
// A sender belongs to one connection and is used by one hop at a time.
type sender struct {
	rc      syscall.RawConn
	step    func(fd uintptr) bool // s.writeThenWait, bound once
	req     []byte
	written int
	wroteAt time.Time
	armed   bool
}

// newSender returns the sender of a TCP connection, or nil when c gives
// no access to its socket.
func newSender(c net.Conn) *sender {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sender{rc: rc}
	s.step = s.writeThenWait
	return s
}

// send writes what it can of req in one write and, when that was all of
// it, waits until the answer can be read or the read deadline passes. It
// returns how many bytes it wrote and when the last of them was written
// (zero unless all were). Errors are left to the write of the rest or to
// the read that follows, which meet them again and report them as
// net.Conn does.
func (s *sender) send(req []byte) (written int, wroteAt time.Time) {
	s.req, s.written, s.wroteAt, s.armed = req, 0, time.Time{}, false
	_ = s.rc.Read(s.step)
	s.req = nil
	return s.written, s.wroteAt
}

// writeThenWait is the raw read's step: at its first call the poller is
// armed for reading and nothing of the answer can have arrived, so it
// writes and asks to wait; called again, the answer can be read.
func (s *sender) writeThenWait(fd uintptr) bool {
	if s.armed {
		return true
	}
	s.armed = true
	n, err := syscall.Write(int(fd), s.req)
	if n <= 0 {
		return true
	}
	s.written = n
	if err != nil || n < len(s.req) {
		return true
	}
	s.wroteAt = time.Now()
	return false
}
