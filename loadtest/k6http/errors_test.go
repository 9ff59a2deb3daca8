package k6http

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	t.Parallel()
	op := func(op, netw string, err error) error { return &net.OpError{Op: op, Net: netw, Err: err} }
	sys := func(errno syscall.Errno) error { return os.NewSyscallError("syscall", errno) }
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"generic", errors.New("boom"), 1000, "boom"},
		{"unexpected EOF", io.ErrUnexpectedEOF, 1000, "unexpected EOF"},
		{"request timeout", context.DeadlineExceeded, 1050, "request timeout"},
		{"read deadline", op("read", "tcp", os.ErrDeadlineExceeded), 1050, "request timeout"},
		{"dial timeout", op("dial", "tcp", timeoutErr{}), 1211, "dial: i/o timeout"},
		{"no such host", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, 1101, "lookup: no such host"},
		{"no such host in dial", op("dial", "tcp", &net.DNSError{Err: "no such host", IsNotFound: true}), 1101, "lookup: no such host"},
		{"other DNS", &net.DNSError{Err: "server misbehaving", Name: "x"}, 1100, "lookup x: server misbehaving"},
		{"refused", op("dial", "tcp", sys(syscall.ECONNREFUSED)), 1212, "dial: connection refused"},
		{"dial errno", op("dial", "tcp", sys(syscall.ENETUNREACH)), 1213,
			fmt.Sprintf("dial: unknown errno %d error with msg `%s`", int(syscall.ENETUNREACH), syscall.ENETUNREACH)},
		{"dial other", op("dial", "tcp", errors.New("odd")), 1210, "dial tcp: odd"},
		{"reset on read", op("read", "tcp", sys(syscall.ECONNRESET)), 1220, "read: connection reset by peer"},
		{"reset on write", fmt.Errorf("wrapped: %w", op("write", "tcp", sys(syscall.ECONNRESET))), 1220, "write: connection reset by peer"},
		{"broken pipe", op("write", "tcp", sys(syscall.EPIPE)), 1201, "write: broken pipe"},
		{"read errno", op("read", "tcp", syscall.ENOTRECOVERABLE), 1202,
			fmt.Sprintf("read: unknown errno `%d` on linux with message `%s`", int(syscall.ENOTRECOVERABLE), syscall.ENOTRECOVERABLE)},
		{"tcp other", op("read", "tcp", errors.New("odd")), 1200, "read tcp: odd"},
		{"not TCP", op("read", "udp", errors.New("odd")), 1010, "read udp: odd"},
		{"unknown authority", &url.Error{Op: "Get", URL: "u", Err: x509.UnknownAuthorityError{}}, 1310, "x509: unknown authority"},
		{"hostname", x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}, 1311, "x509: certificate doesn't match hostname"},
		{"decompression", decompressionError(errors.New("bad")), 1701, "error decompressing response body (bad)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, msg := classify(tc.err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.msg, msg)
		})
	}
}

func TestCleanURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080/a?b=c": "http://127.0.0.1:8080/a?b=c",
		"http://user:pass@host/x":     "http://****:****@host/x",
		"http://user@host/x":          "http://****@host/x",
		"https://host":                "https://host",
		"http://[::1]:80/p#frag":      "http://[::1]:80/p#frag",
		"http://host/a%zz":            "", // not a URL
	} {
		tg, err := parseTarget(raw)
		if want == "" {
			assert.Error(t, err, raw)
			continue
		}
		if assert.NoError(t, err, raw) {
			assert.Equal(t, want, tg.clean, raw)
		}
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	tg, err := parseTarget("https://[::1]/p?q")
	if assert.NoError(t, err) {
		assert.Equal(t, uint16(443), tg.port)
		assert.Equal(t, "/p?q", tg.requestURI)
		assert.Equal(t, "https://[::1]:443", tg.key)
		assert.True(t, tg.ip.IsValid())
	}
	tg, err = parseTarget("http://example.com")
	if assert.NoError(t, err) {
		assert.Equal(t, uint16(80), tg.port)
		assert.Equal(t, "/", tg.requestURI)
		assert.Equal(t, "example.com", tg.host)
		assert.False(t, tg.ip.IsValid())
	}
	for _, bad := range []string{"example.com/x", "ftp://x/", "http:///x", "http://x:99999/"} {
		_, err := parseTarget(bad)
		assert.Error(t, err, bad)
	}
}
