package k6http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
)

// ErrClosed is returned by [Client.Do] after [Client.Close].
var ErrClosed = errors.New("k6http: client closed")

// k6's error codes, as Response.ErrorCode and the error_code tag carry
// them. A response with status >= 400 has the code 1000+status.
const (
	CodeGeneric              = 1000 // none of the below
	CodeNonTCP               = 1010 // a network error outside TCP
	CodeInvalidURL           = 1020 // the URL could not be used; no request was made
	CodeTimeout              = 1050 // the request timed out
	CodeDNS                  = 1100 // a DNS error
	CodeDNSNoSuchHost        = 1101 // no IP for the host
	CodeBlacklistedIP        = 1110 // the address is refused by Options.AllowIP (k6's blacklistIPs)
	CodeTCP                  = 1200 // a TCP error
	CodeTCPBrokenPipe        = 1201 // broken pipe on write
	CodeTCPUnknownErrno      = 1202 // an OS error k6 has no code for
	CodeDial                 = 1210 // a dial error
	CodeDialTimeout          = 1211 // the dial timed out
	CodeDialRefused          = 1212 // connection refused
	CodeDialUnknownErrno     = 1213 // an OS error while dialing
	CodeTCPReset             = 1220 // connection reset by peer
	CodeTLS                  = 1300 // a TLS error
	CodeX509UnknownAuthority = 1310 // the certificate's issuer is unknown
	CodeX509Hostname         = 1311 // the certificate does not match the host
	CodeDecompression        = 1701 // the body could not be decompressed
)

// codedError is an error whose k6 code and text are already known.
type codedError struct {
	code int
	msg  string
	err  error
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Unwrap() error { return e.err }

// classify returns k6's error code and error-tag text for a failed
// request's error. It follows k6's rules: the most specific cause found
// while unwrapping wins, timeouts first.
func classify(err error) (int, string) {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code, ce.msg
	}
	if isTimeout(err) {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return CodeDialTimeout, "dial: i/o timeout"
		}
		return CodeTimeout, "request timeout"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound || dns.Err == "no such host" {
			return CodeDNSNoSuchHost, "lookup: no such host"
		}
		return CodeDNS, dns.Error()
	}
	var unknownAuthority x509.UnknownAuthorityError
	if errors.As(err, &unknownAuthority) {
		return CodeX509UnknownAuthority, "x509: unknown authority"
	}
	var hostname x509.HostnameError
	if errors.As(err, &hostname) {
		return CodeX509Hostname, "x509: certificate doesn't match hostname"
	}
	var recordHeader tls.RecordHeaderError
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &recordHeader) || errors.As(err, &alert) || errors.As(err, &verify) {
		return CodeTLS, err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return classifyOp(op)
	}
	return CodeGeneric, err.Error()
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classifyOp(e *net.OpError) (int, string) {
	if e.Net != "tcp" && e.Net != "tcp4" && e.Net != "tcp6" {
		return CodeNonTCP, e.Error()
	}
	var errno syscall.Errno
	hasErrno := errors.As(e.Err, &errno)
	if hasErrno {
		switch errno {
		case syscall.ECONNRESET:
			return CodeTCPReset, e.Op + ": connection reset by peer"
		case syscall.EPIPE:
			return CodeTCPBrokenPipe, e.Op + ": broken pipe"
		}
	}
	if e.Op != "dial" {
		if hasErrno {
			return CodeTCPUnknownErrno, fmt.Sprintf("%s: unknown errno `%d` on %s with message `%s`",
				e.Op, int(errno), runtime.GOOS, errno.Error())
		}
		return CodeTCP, e.Error()
	}
	if hasErrno {
		if errno == syscall.ECONNREFUSED {
			return CodeDialRefused, "dial: connection refused"
		}
		return CodeDialUnknownErrno, fmt.Sprintf("dial: unknown errno %d error with msg `%s`", int(errno), errno.Error())
	}
	if e.Err != nil {
		if code, msg := classify(e.Err); code != CodeGeneric {
			return code, msg
		}
	}
	return CodeDial, e.Error()
}

// checkIP asks Options.AllowIP about an address before it is dialled.
func (c *Client) checkIP(ip netip.Addr) error {
	if c.s.allowIP == nil || c.s.allowIP(ip) {
		return nil
	}
	return &codedError{code: CodeBlacklistedIP, msg: fmt.Sprintf("IP (%s) is in a blacklisted range", ip)}
}
