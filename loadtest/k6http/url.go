package k6http

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

// target is a parsed request URL with what both paths need from it,
// computed once and cached per client.
type target struct {
	raw        string // what the script gave, the cache's key
	u          *url.URL
	str        string // u.String(): Response.URL
	clean      string // str with credentials masked: the url and name tags
	https      bool
	host       string // the Host header: u.Host
	hostname   string // for DNS and TLS SNI
	port       uint16
	ip         netip.Addr // when hostname is an IP literal
	key        string     // connection pool key: "scheme://hostname:port"
	requestURI string
	fast       bool // the fast path can carry it
}

// parseTarget parses an absolute http or https URL.
func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	return newTarget(u)
}

func newTarget(u *url.URL) (*target, error) {
	t := &target{u: u}
	switch u.Scheme {
	case "http":
	case "https":
		t.https = true
	case "":
		return nil, fmt.Errorf("%q: missing protocol scheme", u.String())
	default:
		return nil, fmt.Errorf("%q: unsupported protocol scheme %q", u.String(), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: missing host", u.String())
	}
	t.hostname = u.Hostname()
	if t.hostname == "" {
		return nil, fmt.Errorf("%q: missing host", u.String())
	}
	port := u.Port()
	switch {
	case port == "" && t.https:
		t.port = 443
	case port == "":
		t.port = 80
	default:
		var p uint64
		for _, c := range port {
			p = p*10 + uint64(c-'0')
			if p > 65535 {
				return nil, fmt.Errorf("%q: invalid port %q", u.String(), port)
			}
		}
		t.port = uint16(p)
	}
	if ip, err := netip.ParseAddr(t.hostname); err == nil {
		t.ip = ip.Unmap()
	}
	t.str = u.String()
	t.clean = cleanURL(u, t.str)
	t.host = u.Host
	t.key = u.Scheme + "://" + net.JoinHostPort(t.hostname, fmt.Sprint(t.port))
	t.requestURI = u.RequestURI()
	t.fast = isASCII(u.Host) && t.ip.Zone() == ""
	return t, nil
}

// cleanURL masks credentials as k6 does in its url tag: user:password
// becomes ****:****, a lone user ****.
func cleanURL(u *url.URL, s string) string {
	if u.User == nil {
		return s
	}
	c := *u
	c.User = nil
	mask := "****@"
	if _, ok := u.User.Password(); ok {
		mask = "****:****@"
	}
	rest := c.String()
	if i := len(c.Scheme) + len("://"); len(rest) >= i && rest[:i] == c.Scheme+"://" {
		return rest[:i] + mask + rest[i:]
	}
	return rest
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// errInvalidURL marks a request URL that could not be used (k6's 1020).
var errInvalidURL = errors.New("invalid URL")
